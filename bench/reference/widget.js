// The JS reference widget for `python -m bench widget`: what the Python widget does for a
// call, with the official @microsoft/signalr browser client and plain JavaScript, against
// the same functions, SignalR service and CIF host — so the two can be timed side by side.
// Same CIF calls with the same arguments: searchAndOpenRecords (adaptor_core/notifications.py
// lookup_query), notifyEvent with the solution's notification template and the parameters
// of adaptor_core/template_parameters.py, then createSession (Accept) or a task, and the
// acknowledgement through the hub. No sign-in: the bench hands in an access token.
(function () {
  "use strict";
  const TEMPLATES = { notification: "cifad_voice_notification", session: "cifad_voice_identified_session",
                      unknownSession: "cifad_voice_unknown_session" };
  const ORIGIN = { voice: 1, phone: 1, email: 2, web: 3 };
  const seen = new Set();

  const parse = (value) => {
    if (typeof value === "string") value = JSON.parse(value);
    if (value && typeof value === "object" && Object.keys(value).length === 1 && "value" in value) return parse(value.value);
    return value;
  };
  const firstContact = (result) => {
    let records = parse(result);
    if (Array.isArray(records)) records = Object.fromEntries(records.map((r, i) => [String(i), r]));
    const first = records && (records["0"] || Object.values(records)[0]);
    return first && first.contactid ? { id: String(first.contactid), name: String(first.fullname || "") } : null;
  };
  const caseTitle = (subject, who) => {
    const text = (subject || "").replace(/"/g, "'").replace(/\\/g, " ").split(/\s+/).filter(Boolean).join(" ")
      || `Phone call from ${who}`;
    return text.length <= 200 ? text : text.slice(0, 199) + "…";
  };
  const parameters = (n, contact) => {
    const who = (contact && contact.name) || n.PhoneNumber;
    return { customerName: who, customerEntityName: "contact", customerRecordId: contact ? contact.id : "",
             extn_phonenumber: n.PhoneNumber, extn_comment: n.comments || "", extn_subject: caseTitle(n.subject, who),
             extn_media_type: ORIGIN[(n.mediaType || "voice").trim().toLowerCase()] || 1,
             extn_interactionid: n.interactionId || n.messageId || "" };
  };

  async function onCall(cif, connection, argument) {
    const n = typeof argument === "string" ? JSON.parse(argument) : argument;
    const key = n.messageId || n.interactionId;
    if (key && seen.has(key)) return;
    if (key) seen.add(key);
    const row = document.createElement("li");
    row.textContent = n.PhoneNumber;
    document.getElementById("recent").prepend(row);
    let outcome, reason;
    try {
      const filter = encodeURIComponent(n.PhoneNumber.replace(/'/g, "''"));
      const contact = firstContact(await cif.searchAndOpenRecords(
        "contact", `?$select=contactid,fullname,mobilephone&$filter=mobilephone eq '${filter}'`, true));
      if (contact) row.textContent = `${contact.name} · ${n.PhoneNumber}`;
      const params = parameters(n, contact);
      const result = parse(await cif.notifyEvent({ templateName: TEMPLATES.notification, templateParameters: params }));
      if (result.actionName === "Accept") {
        await cif.createSession({ templateName: contact ? TEMPLATES.session : TEMPLATES.unknownSession,
                                  templateParameters: params });
        outcome = "Accepted";
      } else {
        const who = contact ? contact.name : n.PhoneNumber;
        await cif.createRecord("task", JSON.stringify({ subject: `${result.actionName} - ${result.responseReason || ""}`,
          description: `Call from ${who} (${n.PhoneNumber}). ${n.comments || ""}`.trim() }));
        outcome = result.actionName === "Reject" ? "Rejected" : "Missed";
      }
      reason = `${result.actionName}/${result.responseReason || ""}`;
    } catch (error) {
      outcome = "Failed";
      reason = String(error && error.message ? error.message : error).slice(0, 1024);
    }
    row.dataset.outcome = outcome;
    await connection.send("sendMessage", { messageId: n.messageId || n.interactionId || "", outcome, reason });
  }

  async function start() {
    const token = window.benchAccessToken;
    const post = (url, body) => fetch(url, { method: "POST", headers: { Authorization: `Bearer ${token}`,
      "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined }).then((r) => r.json());
    while (!(window.Microsoft && window.Microsoft.CIFramework)) await new Promise((r) => setTimeout(r, 10));
    const cif = window.Microsoft.CIFramework;
    await cif.setClickToAct(true);
    await cif.setMode(1);
    const info = await post("/api/negotiate");
    const connection = new signalR.HubConnectionBuilder()
      .withUrl(info.url, { accessTokenFactory: () => info.accessToken, transport: signalR.HttpTransportType.WebSockets })
      .configureLogging(signalR.LogLevel.Warning).build();
    connection.on("ReceiveNotification", (argument) => onCall(cif, connection, argument));
    await connection.start();
    await post("/api/userclient", { connectionId: connection.connectionId, connectionStatus: 1 });
    document.getElementById("status").dataset.state = "connected";
    document.body.dataset.registered = connection.connectionId;
  }

  start().catch((error) => { document.getElementById("status").textContent = `failed: ${error}`; });
})();
