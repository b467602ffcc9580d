/* Local stand-in for Dynamics 365's msdyn_ciLibrary.js (CIF 2.0 client library).
 *
 * Loaded by the widget inside the host's iframe as
 *   <script src="<host>/webresources/Widget/msdyn_ciLibrary.js"
 *           data-crmurl="<host origin>" data-cifid="CIFMainLibrary"></script>
 * It defines window.Microsoft.CIFramework; every API call is a postMessage to the
 * host page (window.parent) and resolves with the host's answer. Wire format:
 *   widget → host  {cif: "call",   id, method, args}
 *   host → widget  {cif: "result", id, ok: true, value} | {cif: "result", id, ok: false, error}
 *   host → widget  {cif: "event",  id, name, payload}     (handlers from addHandler)
 *   widget → host  {cif: "handled", id, ok, error?}       (the handler's promise settled)
 * Origins are checked both ways: only the data-crmurl origin and window.parent are heard.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var crmUrl = (script && script.getAttribute("data-crmurl")) || "";
  var crmOrigin;
  try { crmOrigin = new URL(crmUrl).origin; } catch (e) { crmOrigin = null; }
  var pending = new Map();
  var handlers = new Map();
  var nextId = 1;

  function call(method, args) {
    return new Promise(function (resolve, reject) {
      if (!crmOrigin || window.parent === window) {
        reject({ message: "CIF host not available (data-crmurl missing or not framed)", msdyn_name: method });
        return;
      }
      var id = "c" + nextId++;
      pending.set(id, { resolve: resolve, reject: reject, method: method });
      window.parent.postMessage({ cif: "call", id: id, method: method, args: args }, crmOrigin);
    });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== crmOrigin || event.source !== window.parent) return;
    var msg = event.data;
    if (!msg || typeof msg !== "object") return;
    if (msg.cif === "result" && pending.has(msg.id)) {
      var p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(msg.error || { message: "CIF call failed", msdyn_name: p.method });
    } else if (msg.cif === "event") {
      var list = handlers.get(msg.name) || [];
      Promise.all(list.map(function (fn) { return Promise.resolve(fn(msg.payload)); })).then(
        function () { window.parent.postMessage({ cif: "handled", id: msg.id, ok: true }, crmOrigin); },
        function (err) { window.parent.postMessage({ cif: "handled", id: msg.id, ok: false, error: String(err) }, crmOrigin); }
      );
    }
  });

  function api(method) {
    return function () { return call(method, Array.prototype.slice.call(arguments)); };
  }

  var CIFramework = {
    setClickToAct: api("setClickToAct"),
    setMode: api("setMode"),
    getMode: api("getMode"),
    searchAndOpenRecords: api("searchAndOpenRecords"),
    notifyEvent: api("notifyEvent"),
    cancelEvent: api("cancelEvent"),
    createSession: api("createSession"),
    createRecord: api("createRecord"),
    updateRecord: api("updateRecord"),
    getPresence: api("getPresence"),
    setPresence: api("setPresence"),
    getEnvironment: api("getEnvironment"),
    addHandler: function (name, fn) {
      if (typeof fn !== "function") return Promise.reject({ message: "handler must be a function", msdyn_name: "addHandler" });
      if (!handlers.has(name)) handlers.set(name, []);
      handlers.get(name).push(fn);
      return call("addHandler", [name]);
    },
    removeHandler: function (name, fn) {
      var list = handlers.get(name) || [];
      handlers.set(name, list.filter(function (f) { return f !== fn; }));
      return call("removeHandler", [name]);
    },
  };
  window.Microsoft = window.Microsoft || {};
  window.Microsoft.CIFramework = CIFramework;
})();
