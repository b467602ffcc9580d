/* Dev console: polls /console/api/state every second and renders connections and
 * messages as text; the "Place a test call" form POSTs JSON to /console/api/call,
 * which sends as the telephony app (msal client credentials → SendMessageToUser) with
 * the page's CSRF token. */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var agents = new Map();
  document.querySelectorAll("#call-agent option").forEach(function (o) {
    agents.set(o.value, o.textContent.replace(/\s*\(.*\)$/, ""));
  });

  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function time(seconds) {
    if (typeof seconds !== "number") return "";
    return new Date(seconds * 1000).toTimeString().slice(0, 8);
  }

  function render(tableId, rows, makeCells) {
    var tbody = document.querySelector("#" + tableId + " tbody");
    var fresh = rows.map(function (row) {
      var tr = document.createElement("tr");
      makeCells(row).forEach(function (td) { tr.append(td); });
      return tr;
    });
    tbody.replaceChildren.apply(tbody, fresh);
  }

  function renderState(state) {
    document.getElementById("conn-count").textContent = String(state.connections.length);
    document.getElementById("msg-count").textContent = String(state.messages.length);
    render("connections", state.connections, function (c) {
      return [cell(agents.get(c.userId) || ""), cell(c.userId, "mono"), cell(c.connectionId, "mono"),
              cell(c.status === 1 ? "connected" : c.status), cell(time(c.updated))];
    });
    render("messages", state.messages, function (m) {
      var status = cell(m.status, "status");
      status.dataset.status = String(m.status);
      return [cell(time(m.created)), cell(m.messageId, "mono"), cell(agents.get(m.userId) || m.userId),
              cell(m.phone), status, cell(m.reason), cell(time(m.sent)), cell(time(m.completed)), cell(m.deliveries)];
    });
  }

  var pollState = document.getElementById("poll-state");
  function poll() {
    fetch("/console/api/state", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (state) {
        renderState(state);
        pollState.textContent = "Updated " + new Date().toTimeString().slice(0, 8);
        pollState.dataset.ok = "true";
      })
      .catch(function (err) {
        pollState.textContent = "Cannot read state: " + err.message;
        pollState.dataset.ok = "false";
      })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }
  poll();

  var form = document.getElementById("call-form");
  var result = document.getElementById("call-result");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var ttl = form.elements.ttl.value.trim();
    var body = { userId: form.elements.userId.value, phone: form.elements.phone.value,
                 comments: form.elements.comments.value, ttl: ttl === "" ? null : ttl };
    var button = document.getElementById("call-submit");
    button.disabled = true;
    result.dataset.state = "pending";
    result.textContent = "Sending…";
    var csrf = document.querySelector('meta[name="csrf-token"]').content;
    fetch("/console/api/call", { method: "POST", body: JSON.stringify(body),
                                 headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } })
      .then(function (r) {
        return r.json().catch(function () { return { error: "bad_response", message: "HTTP " + r.status }; })
          .then(function (data) { return { ok: r.ok, data: data }; });
      })
      .then(function (answer) {
        result.dataset.state = answer.ok ? "ok" : "error";
        result.textContent = answer.ok
          ? "Message " + answer.data.messageId + " " + answer.data.status + " (connections: " + answer.data.connections + ")"
          : (answer.data.message || answer.data.error || "failed");
      })
      .catch(function (err) {
        result.dataset.state = "error";
        result.textContent = "Request failed: " + err.message;
      })
      .finally(function () { button.disabled = false; });
  });
})();
