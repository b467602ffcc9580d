/* Local CIF host: the page side of msdyn_ciLibrary.js (see that file's header for the
 * postMessage wire format). It plays the Dynamics 365 agent workspace for the widget in
 * the side panel: answers Microsoft.CIFramework calls, shows notifications, sessions,
 * activities (tasks, phone calls) and contacts, the agent's presence, raises events the
 * widget registered for, withdraws notifications on cancelEvent, and logs every call in
 * window.cifLog. Only messages from the widget iframe's window AND the widget origin
 * are heard; answers go to that origin only. Text that came from the widget is always
 * rendered with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var body = document.body;
  var frame = document.getElementById("widget-frame");
  var config = {
    widgetOrigin: body.dataset.widgetOrigin,
    hostOrigin: window.location.origin,
    // ?timeout= on the host page overrides the templates' msdyn_timeout (tests, demos)
    timeoutOverrideMs: Number(body.dataset.timeout) > 0 ? Number(body.dataset.timeout) * 1000 : null,
    orgId: body.dataset.orgId || "",
  };
  var MODES = { 0: "minimized", 1: "docked", 2: "hidden" };
  var MAX_SESSIONS = 10; // as Dynamics' multisession limit
  var MAX_LOG_ROWS = 200; // rows kept in the panel; window.cifLog keeps everything
  // msdyn_name of errors, spelled as Dynamics does (docs/cif.md: {"message", "msdyn_name": "NotifyEvent"}).
  var API_NAMES = {
    setClickToAct: "SetClickToAct", setMode: "SetMode", getMode: "GetMode", addHandler: "AddHandler",
    removeHandler: "RemoveHandler", searchAndOpenRecords: "SearchAndOpenRecords", notifyEvent: "NotifyEvent",
    createSession: "CreateSession", createRecord: "CreateRecord", getEnvironment: "GetEnvironment",
    cancelEvent: "CancelEvent", updateRecord: "UpdateRecord", getPresence: "GetPresence", setPresence: "SetPresence",
  };

  var state = {
    clickToAct: false,
    mode: 1,
    handlers: new Map(), // event name → number of registered handler functions
    notifications: [], // pending, oldest first
    sessions: [],
    tasks: [], // every created record (tasks and phone calls), newest last
    withdrawn: [], // notifications taken down by cancelEvent
    events: [],
    focused: null, // session id, or null for Home
    counters: { notification: 0, session: 0, event: 0 },
  };
  var cifLog = [];
  window.cifLog = cifLog;

  // --- small DOM helpers (text only) --------------------------------------------------

  function el(tag, options, children) {
    var node = document.createElement(tag);
    options = options || {};
    if (options.className) node.className = options.className;
    if (options.text !== undefined) node.textContent = String(options.text);
    if (options.attrs) Object.keys(options.attrs).forEach(function (k) { node.setAttribute(k, options.attrs[k]); });
    if (options.data) Object.keys(options.data).forEach(function (k) { node.dataset[k] = options.data[k]; });
    if (options.on) Object.keys(options.on).forEach(function (k) { node.addEventListener(k, options.on[k]); });
    (children || []).forEach(function (child) { if (child !== null && child !== undefined) node.append(child); });
    return node;
  }

  /** Any value from the widget as display text (strings unchanged, the rest as JSON). */
  function display(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "string") return value;
    try {
      var text = JSON.stringify(value);
      return text === undefined ? String(value) : text;
    } catch (e) {
      return String(value); // BigInt or a cyclic structure: structured clone allows both
    }
  }

  function truncate(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function isPlainObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  var GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }

  // --- CIF errors ----------------------------------------------------------------------

  function CifError(method, message) {
    this.message = message;
    this.msdyn_name = API_NAMES[method] || method;
  }

  function fail(method, message) {
    throw new CifError(method, message);
  }

  /** The {templateName, templateParameters} argument of notifyEvent and createSession. */
  function templateInput(method, args) {
    var input = args[0];
    if (!isPlainObject(input) || typeof input.templateName !== "string") {
      fail(method, method + " expects {templateName, templateParameters}");
    }
    if (input.templateParameters !== undefined && !isPlainObject(input.templateParameters)) {
      fail(method, "templateParameters must be an object");
    }
    return input;
  }

  // --- the solution's templates (dynamics/solution/, rendered as Dynamics renders them) ---

  var TEMPLATES = (function () {
    try {
      return JSON.parse(document.getElementById("cif-templates").textContent);
    } catch (e) {
      console.error("CIF host: no templates", e);
      return { notificationTemplates: {}, sessionTemplates: {}, tabTemplates: {} };
    }
  })();
  var PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
  var PAGE_ENTITY_RECORD = 509180001, PAGE_SEARCH = 509180005;
  // incident.caseorigincode, Dataverse's default options
  var CASE_ORIGINS = { 1: "Phone", 2: "Email", 3: "Web" };

  function own(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key);
  }

  /** `text` with each {name} replaced by templateParameters[name]. A name without a value
   *  fails the call, naming it and where the template uses it: a widget and a template
   *  that drifted apart must break a test, not show a blank. */
  function substitute(method, where, text, params) {
    if (typeof text !== "string") return text;
    return text.replace(PLACEHOLDER, function (_, name) {
      if (!own(params, name) || params[name] === null || params[name] === undefined) {
        fail(method, "template parameter '" + name + "' has no value (used by " + where + ")");
      }
      return display(params[name]);
    });
  }

  function renderNotification(input) {
    var t = own(TEMPLATES.notificationTemplates, input.templateName) ? TEMPLATES.notificationTemplates[input.templateName] : null;
    if (!t) fail("notifyEvent", "NotificationTemplateNotFoundError");
    var p = input.templateParameters || {};
    var where = "notification template " + input.templateName;
    return {
      title: substitute("notifyEvent", where + " title", t.title, p),
      fields: t.fields.map(function (f) {
        return { name: f.name, title: substitute("notifyEvent", where + " field " + f.name, f.title, p),
                 value: substitute("notifyEvent", where + " field " + f.name, f.value, p) };
      }),
      timeoutMs: config.timeoutOverrideMs || t.timeout * 1000,
      showTimeout: t.showTimeout, showReject: t.showReject, autoAccept: t.autoAccept,
      acceptText: t.acceptText, rejectText: t.rejectText,
    };
  }

  function renderTab(name, p) {
    var t = TEMPLATES.tabTemplates[name];
    var where = "application tab template " + name;
    var override = isPlainObject(p[name]) ? p[name] : {}; // per-tab values replace configured ones
    var params = {};
    Object.keys(t.parameters).forEach(function (key) {
      var raw = own(override, key) ? override[key] : t.parameters[key];
      params[key] = substitute("createSession", where + " parameter " + key, raw, p);
    });
    var tab = { name: name, title: substitute("createSession", where + " title", t.title, p), pageType: t.pageType,
                parameters: params, data: null };
    if (typeof params.data === "string") {
      try {
        tab.data = JSON.parse(params.data);
      } catch (e) {
        fail("createSession", where + ": data is not JSON once its parameters are filled in (" + e.message + ")");
      }
    }
    if (tab.data && params.entityName === "incident" && own(tab.data, "caseorigincode")) {
      var origin = Number(tab.data.caseorigincode);
      if (!own(CASE_ORIGINS, origin)) {
        fail("createSession", where + ": caseorigincode " + display(tab.data.caseorigincode) +
             " is not an option of incident.caseorigincode (1 Phone, 2 Email, 3 Web)");
      }
      tab.origin = CASE_ORIGINS[origin];
    }
    return tab;
  }

  function renderSession(input) {
    var s = own(TEMPLATES.sessionTemplates, input.templateName) ? TEMPLATES.sessionTemplates[input.templateName] : null;
    if (!s) fail("createSession", "session template '" + input.templateName + "' was not found");
    var p = input.templateParameters || {};
    return {
      title: substitute("createSession", "session template " + input.templateName + " title", s.title, p),
      tabs: s.tabs.map(function (name) { return renderTab(name, p); }),
    };
  }

  function errorObject(err, method) {
    if (err instanceof CifError) return { message: err.message, msdyn_name: err.msdyn_name };
    var message = err && err.message ? String(err.message) : String(err);
    return { message: message, msdyn_name: API_NAMES[method] || method };
  }

  // --- wire: postMessage to and from the widget --------------------------------------------

  function postToWidget(msg) {
    if (frame.contentWindow) frame.contentWindow.postMessage(msg, config.widgetOrigin);
  }

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || event.origin !== config.widgetOrigin) return;
    var msg = event.data;
    if (!isPlainObject(msg)) return;
    if (msg.cif === "call") handleCall(msg);
    else if (msg.cif === "handled") handleHandled(msg);
  });

  function handleCall(msg) {
    var id = msg.id;
    if (typeof id !== "string" && typeof id !== "number") return;
    var method = msg.method;
    if (typeof method !== "string") {
      postToWidget({ cif: "result", id: id, ok: false, error: { message: "method must be a string", msdyn_name: display(method) } });
      return;
    }
    // t: this page's high-resolution clock, for latency measurements (bench/cif_driver.py)
    var entry = { method: method, args: msg.args, at: new Date().toISOString(), t: performance.now() };
    cifLog.push(entry);
    window.dispatchEvent(new CustomEvent("cif-call", { detail: entry }));
    var row = logCall(entry);
    entry.row = row;
    var args = Array.isArray(msg.args) ? msg.args : [];
    var result;
    try {
      var impl = Object.prototype.hasOwnProperty.call(API, method) ? API[method] : null;
      if (!impl) fail(method, method + " is not supported by the local CIF host");
      result = Promise.resolve(impl(args, entry));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(function (value) {
      row.settle(true, value);
      postToWidget({ cif: "result", id: id, ok: true, value: value });
    }, function (err) {
      var error = errorObject(err, method);
      row.settle(false, error);
      postToWidget({ cif: "result", id: id, ok: false, error: error });
    });
  }

  function handleHandled(msg) {
    var record = state.events.find(function (e) { return e.id === msg.id; });
    if (!record || record.handled) return;
    record.handled = { ok: msg.ok === true, error: msg.ok === true ? null : display(msg.error) };
    if (record.row) record.row.settle(record.handled.ok, record.handled.ok ? "handled" : record.handled.error);
  }

  /** Send an event to the widget if it registered a handler for it; returns whether sent. */
  function raise(name, payload) {
    var delivered = (state.handlers.get(name) || 0) > 0;
    state.counters.event += 1;
    var record = {
      id: "e" + state.counters.event, name: name, payload: JSON.stringify(payload),
      at: new Date().toISOString(), delivered: delivered, handled: null, row: null,
    };
    state.events.push(record);
    record.row = logEvent(record);
    if (delivered) postToWidget({ cif: "event", id: record.id, name: name, payload: record.payload });
    else record.row.settle(null, "not delivered: the widget has no " + name + " handler");
    return delivered;
  }

  // --- the API -----------------------------------------------------------------------------

  var dataverse = window.LocalDataverse; // dataverse.js: the seeded tables and their OData queries
  var recordsReady = dataverse.ready
    .then(function () { renderRecords(); })
    .catch(function (err) { console.error("CIF host: cannot load the seeded records", err); });

  var API = {
    setClickToAct: function (args) {
      if (typeof args[0] !== "boolean") fail("setClickToAct", "setClickToAct expects true or false");
      state.clickToAct = args[0];
      renderStatus();
      return undefined;
    },

    setMode: function (args) {
      if (!(args[0] === 0 || args[0] === 1 || args[0] === 2)) fail("setMode", "setMode expects 0 (minimized), 1 (docked) or 2 (hidden)");
      applyMode(args[0]);
      return undefined;
    },

    getMode: function () {
      return state.mode;
    },

    addHandler: function (args) {
      var name = handlerName("addHandler", args[0]);
      state.handlers.set(name, (state.handlers.get(name) || 0) + 1);
      renderStatus();
      return undefined;
    },

    removeHandler: function (args) {
      var name = handlerName("removeHandler", args[0]);
      var count = (state.handlers.get(name) || 0) - 1;
      if (count > 0) state.handlers.set(name, count);
      else state.handlers.delete(name);
      renderStatus();
      return undefined;
    },

    searchAndOpenRecords: function (args) {
      var entity = args[0], query = args[1], searchOnly = args[2];
      if (typeof searchOnly !== "boolean") fail("searchAndOpenRecords", "searchOnly must be true or false");
      return recordsReady.then(function () {
        var found;
        try {
          found = dataverse.query(entity, query);
        } catch (err) {
          if (err instanceof dataverse.QueryError) fail("searchAndOpenRecords", err.message);
          throw err;
        }
        var result = {};
        found.records.forEach(function (r, i) { result[String(i)] = r; });
        if (searchOnly === false) {
          // As CIF: $search opens the search page with its text; else one record opens, several a search page.
          var name = entity.toLowerCase(), key = dataverse.tables[name].key;
          if (found.search !== null) showSearch(found.search, [name]);
          else if (found.records.length === 1) openRecord(name, found.records[0][key]);
          else if (found.records.length > 1) showSearch("", [name], found.records.map(function (r) { return r[key]; }));
        }
        return JSON.stringify(result);
      });
    },

    // notifyEvent(input, correlationId?, cancellationToken?): the token as the third
    // argument (the documented syntax) or as input.cancellationToken (Microsoft's example
    // and clients in the field); given both ways, they must agree.
    notifyEvent: function (args, entry) {
      var input = templateInput("notifyEvent", args);
      correlationArg("notifyEvent", args[1]);
      var token = tokenArg(args[2]), inInput = tokenArg(input.cancellationToken);
      if (token !== null && inInput !== null && token !== inInput) {
        fail("notifyEvent", "RejectAfterClientError: the cancellationToken argument and input.cancellationToken differ");
      }
      token = token !== null ? token : inInput;
      if (token !== null && findByToken(token)) {
        fail("notifyEvent", "RejectAfterClientError: cancellationToken '" + token + "' is in use by a pending notification");
      }
      var shown = renderNotification(input);
      if (shown.autoAccept) return JSON.stringify({ actionName: "Accept", responseReason: "AutoAccept" });
      return new Promise(function (resolve) { addNotification(input, shown, resolve, token, entry.row); });
    },

    // cancelEvent(cancellationToken, correlationId?): takes the pending notification down.
    // Dynamics documents no answer for the notifyEvent promise of a cancelled notification:
    // this host never settles it (a widget must not wait on it), and logs it withdrawn.
    cancelEvent: function (args) {
      var token = args[0];
      if (typeof token !== "string" || !token) fail("cancelEvent", "RejectAfterClientError: the cancellationToken is missing");
      correlationArg("cancelEvent", args[1]);
      var n = findByToken(token);
      if (!n) fail("cancelEvent", "RejectAfterClientError: no pending notification has cancellationToken '" + token + "'");
      withdraw(n);
      return token;
    },

    createSession: function (args) {
      var input = templateInput("createSession", args);
      if (state.sessions.length >= MAX_SESSIONS) fail("createSession", "the session limit (" + MAX_SESSIONS + ") is reached");
      return addSession(input, renderSession(input));
    },

    // createRecord(entityLogicalName, data: JSON text) → JSON text {"id"}; the attributes
    // are checked as Dataverse checks them (TABLES below)
    createRecord: function (args) {
      var entity = tableOf("createRecord", args[0]);
      var values = recordData("createRecord", entity, args[1], true);
      var id = crypto.randomUUID();
      addRecord(Object.assign({ id: id, entity: entity, created: new Date(), statecode: 0,
                                statuscode: TABLES[entity].openStatus }, values));
      return JSON.stringify({ id: id });
    },

    // updateRecord(entityLogicalName, id, data: JSON text) → JSON text {"id", …the updated attributes}
    updateRecord: function (args) {
      var entity = tableOf("updateRecord", args[0]);
      var id = args[1];
      var record = typeof id === "string" ? state.tasks.find(function (r) { return r.id === id && r.entity === entity; }) : null;
      if (!record) fail("updateRecord", entity + " With Id = " + display(id) + " Does Not Exist");
      var values = recordData("updateRecord", entity, args[2], false);
      if (record.statecode !== 0 && !(own(values, "statecode") && values.statecode === 0)) {
        fail("updateRecord", "This " + entity + " is " + TABLES[entity].states[record.statecode] +
             ": a closed activity is read-only (reopen it with statecode 0)");
      }
      stateChange(entity, record, values);
      Object.assign(record, values);
      renderRecord(record);
      return JSON.stringify(Object.assign({ id: id }, values));
    },

    getPresence: function () {
      return state.presence.presenceText;
    },

    // setPresence(presenceText) → true, or false when no presence has that exact text
    setPresence: function (args) {
      if (typeof args[0] !== "string") fail("setPresence", "setPresence expects the presence text (a string)");
      return changePresence(args[0]);
    },

    getEnvironment: function () {
      return JSON.stringify({
        clientUrl: config.hostOrigin, appUrl: config.hostOrigin + "/", orgId: config.orgId,
        userId: "local-agent", crmVersion: "9.2",
      });
    },
  };

  function handlerName(method, name) {
    if (typeof name !== "string" || !name || name.length > 100) fail(method, "the event name must be a non-empty string");
    return name;
  }

  /** A cancellationToken: absent (null), or a non-empty string of at most 256 characters. */
  function tokenArg(value) {
    if (value === undefined || value === null) return null;
    if (typeof value !== "string" || !value || value.length > 256) {
      fail("notifyEvent", "RejectAfterClientError: cancellationToken must be a non-empty string of at most 256 characters");
    }
    return value;
  }

  /** A correlationId argument: absent, or a GUID (Dynamics groups telemetry by it). */
  function correlationArg(method, value) {
    if (value !== undefined && value !== null && (typeof value !== "string" || !GUID_RE.test(value))) {
      fail(method, "RejectAfterClientError: correlationId must be a GUID");
    }
  }

  // --- tables the host keeps (Dataverse's columns and types, as far as the widget uses them) ---

  // Each column: its type and, for text, its maximum length. Lookups are set with
  // "<navigation property>@odata.bind": "/<entity set>(<id>)" to an existing record.
  var TABLES = {
    task: {
      columns: { subject: ["text", 200], description: ["text", 2000], scheduledend: ["datetime"] },
      required: ["subject"], binds: {}, openStatus: 2,
      states: { 0: "Open", 1: "Completed", 2: "Canceled" }, statuses: { 0: [2, 3, 4, 7], 1: [5], 2: [6] },
      statusNames: { 2: "Not Started", 3: "In Progress", 4: "Waiting on someone else", 5: "Completed", 6: "Canceled", 7: "Deferred" },
    },
    phonecall: {
      columns: { subject: ["text", 200], phonenumber: ["text", 200], description: ["text", 2000], directioncode: ["boolean"],
                 actualstart: ["datetime"], actualend: ["datetime"], actualdurationminutes: ["integer"] },
      required: ["subject"],
      binds: { regardingobjectid_contact_phonecall: "contacts", regardingobjectid_account_phonecall: "accounts" },
      openStatus: 1,
      states: { 0: "Open", 1: "Completed", 2: "Canceled" }, statuses: { 0: [1], 1: [2, 4], 2: [3] },
      statusNames: { 1: "Open", 2: "Made", 3: "Canceled", 4: "Received" },
    },
  };
  var ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
  var EDM = { text: "Edm.String", boolean: "Edm.Boolean", integer: "Edm.Int32", datetime: "Edm.DateTimeOffset" };

  function tableOf(method, entity) {
    if (typeof entity !== "string" || !own(TABLES, entity)) {
      fail(method, "entity " + display(entity) + " is not in the local host's tables (" + Object.keys(TABLES).join(", ") + ")");
    }
    return entity;
  }

  /** The records a lookup may bind to, by entity set (the seeded contacts and accounts). */
  function boundRecord(entitySet, id) {
    var t = dataverse.tables[entitySet === "contacts" ? "contact" : "account"];
    return t.rows.find(function (r) { return r[t.key] === id; }) || null;
  }

  /** `data` (JSON text) as checked column values; creating needs the required columns and
   *  takes no state; a lookup must name an existing record. */
  function recordData(method, entity, data, creating) {
    var table = TABLES[entity], parsed, values = {};
    if (typeof data !== "string") fail(method, "data must be a JSON string");
    try {
      parsed = JSON.parse(data);
    } catch (e) {
      fail(method, "data is not valid JSON: " + e.message);
    }
    if (!isPlainObject(parsed)) fail(method, "data must be a JSON object");
    Object.keys(parsed).forEach(function (name) {
      var value = parsed[name];
      var bind = /^(.+)@odata\.bind$/.exec(name);
      if (bind) {
        if (!own(table.binds, bind[1])) fail(method, "'" + bind[1] + "' is not a navigation property of " + entity);
        var set = table.binds[bind[1]];
        var m = typeof value === "string" ? new RegExp("^/" + set + "\\(([^)]+)\\)$").exec(value) : null;
        if (!m || !GUID_RE.test(m[1])) fail(method, name + " must be \"/" + set + "(<guid>)\", not " + display(value));
        var target = boundRecord(set, m[1].toLowerCase());
        if (!target) fail(method, set.replace(/s$/, "") + " With Id = " + m[1] + " Does Not Exist");
        values.regarding = { entity: set.replace(/s$/, ""), id: m[1].toLowerCase(), name: target.fullname || target.name || "" };
        return;
      }
      if (name === "statecode" || name === "statuscode") {
        if (creating) fail(method, name + " is set by updateRecord (SetState), not when creating a record");
        if (typeof value !== "number" || !Number.isInteger(value)) fail(method, "Cannot convert " + display(value) + " to the expected type 'Edm.Int32' (" + name + ")");
        values[name] = value;
        return;
      }
      if (!own(table.columns, name)) fail(method, "The property '" + name + "' does not exist on type 'Microsoft.Dynamics.CRM." + entity + "'");
      var type = table.columns[name][0], max = table.columns[name][1];
      var ok = type === "text" ? typeof value === "string" && value.length <= max
        : type === "boolean" ? typeof value === "boolean"
        : type === "integer" ? typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 2147483647
        : typeof value === "string" && ISO_DATETIME.test(value) && !isNaN(Date.parse(value));
      if (!ok) {
        fail(method, "Cannot convert " + truncate(display(value), 80) + " to the expected type '" + EDM[type] + "' (" + name +
             (type === "text" ? ", at most " + max + " characters" : "") + ")");
      }
      values[name] = value;
    });
    if (creating) {
      table.required.forEach(function (name) {
        if (!own(values, name) || !values[name]) fail(method, "'" + name + "' is required for a " + entity);
      });
    }
    return values;
  }

  /** statecode/statuscode of an update: a known state, a status reason of that state. */
  function stateChange(entity, record, values) {
    var table = TABLES[entity];
    if (!own(values, "statecode") && !own(values, "statuscode")) return;
    var stateCode = own(values, "statecode") ? values.statecode : record.statecode;
    if (!own(table.states, stateCode)) fail("updateRecord", "statecode " + stateCode + " is not a state of " + entity);
    var allowed = table.statuses[stateCode];
    if (!own(values, "statuscode")) values.statuscode = allowed[0];
    if (allowed.indexOf(values.statuscode) < 0) {
      fail("updateRecord", "statuscode " + values.statuscode + " is not valid for statecode " + stateCode + " of " + entity +
           " (" + allowed.join(", ") + ")");
    }
  }

  // --- presence (the agent's, as Omnichannel's presence selector) ----------------------------

  // The out-of-the-box presences: base status, text, colour (presenceId: stable GUIDs of this host).
  var PRESENCES = [
    { presenceId: "efdeb843-c07a-e811-8162-000d3aa11f50", presenceText: "Available", basePresenceStatus: "AVAILABLE", presenceColor: "#00ff00" },
    { presenceId: "efdeb843-c07a-e811-8162-000d3aa11f51", presenceText: "Busy", basePresenceStatus: "BUSY", presenceColor: "#ff0000" },
    { presenceId: "efdeb843-c07a-e811-8162-000d3aa11f52", presenceText: "Busy - DND", basePresenceStatus: "BUSY_DND", presenceColor: "#ff0000" },
    { presenceId: "efdeb843-c07a-e811-8162-000d3aa11f53", presenceText: "Away", basePresenceStatus: "AWAY", presenceColor: "#ffbf00" },
    { presenceId: "efdeb843-c07a-e811-8162-000d3aa11f54", presenceText: "Offline", basePresenceStatus: "OFFLINE", presenceColor: "#8a8886" },
  ];
  state.presence = PRESENCES[0]; // the default presence when none is configured: Available
  var presenceSelect = document.getElementById("presence");

  /** Set the presence whose text is exactly `text` and raise onPresenceChange; false when none has it. */
  function changePresence(text) {
    var found = PRESENCES.find(function (p) { return p.presenceText === text; });
    if (!found) return false;
    state.presence = found;
    renderPresence();
    raise("onPresenceChange", { presenceId: found.presenceId, presenceInfo: Object.assign({}, found) });
    return true;
  }

  function renderPresence() {
    presenceSelect.value = state.presence.presenceId;
    document.getElementById("presence-dot").style.background = state.presence.presenceColor;
  }

  PRESENCES.forEach(function (p) { presenceSelect.append(el("option", { text: p.presenceText, attrs: { value: p.presenceId } })); });
  presenceSelect.addEventListener("change", function () {
    var chosen = PRESENCES.find(function (p) { return p.presenceId === presenceSelect.value; });
    if (chosen) changePresence(chosen.presenceText);
  });
  renderPresence();

  // --- notifications (toasts) ------------------------------------------------------------

  var toasts = document.getElementById("toasts");

  function addNotification(input, shown, resolve, token, logRow) {
    state.counters.notification += 1;
    var params = input.templateParameters || {};
    var n = {
      id: state.counters.notification, templateName: input.templateName, params: params, shown: shown,
      deadline: Date.now() + shown.timeoutMs, timeoutMs: shown.timeoutMs, resolve: resolve,
      token: token, logRow: logRow,
    };
    var countdown = el("span", { className: "countdown" });
    countdown.hidden = !shown.showTimeout;
    var bar = el("span", { className: "bar" });
    var fields = el("dl", { className: "toast-fields" });
    shown.fields.forEach(function (f) {
      fields.append(el("dt", { text: f.title }), el("dd", { text: f.value || "—", data: { field: f.name } }));
    });
    var reject = el("button", { className: "reject", text: shown.rejectText, attrs: { type: "button" },
                                on: { click: function () { answer(n, "Reject"); } } });
    reject.hidden = !shown.showReject;
    n.element = el("div", { className: "toast", attrs: { role: "alertdialog", "aria-label": "Incoming notification" },
                            data: { notificationId: String(n.id), template: input.templateName, token: token || "" } }, [
      el("div", { className: "toast-head" }, [
        el("span", { className: "toast-icon", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "toast-title", text: shown.title }),
      ]),
      fields,
      el("div", { className: "progress" }, [bar]),
      el("div", { className: "toast-foot" }, [
        countdown,
        reject,
        el("button", { className: "accept", text: shown.acceptText, attrs: { type: "button" },
                       on: { click: function () { answer(n, "Accept"); } } }),
      ]),
    ]);
    n.countdown = countdown;
    n.bar = bar;
    state.notifications.push(n);
    toasts.append(n.element);
    tick();
  }

  var OUTCOMES = {
    Accept: { actionName: "Accept", responseReason: "Accept" },
    Reject: { actionName: "Reject", responseReason: "DeclinedByAgent" },
    Timeout: { actionName: "Timeout", responseReason: "DisplayTimeout" },
  };

  function findByToken(token) {
    return state.notifications.find(function (n) { return n.token === token; }) || null;
  }

  /** cancelEvent: the toast goes, its notifyEvent stays unanswered (logged as withdrawn). */
  function withdraw(n) {
    state.notifications.splice(state.notifications.indexOf(n), 1);
    n.element.remove();
    state.withdrawn.push({ id: n.id, token: n.token, templateName: n.templateName, title: n.shown.title, at: new Date().toISOString() });
    if (n.logRow) n.logRow.settle(null, "withdrawn by cancelEvent('" + n.token + "'): no answer");
  }

  function answer(n, action) {
    var index = state.notifications.indexOf(n);
    if (index < 0) return false;
    state.notifications.splice(index, 1);
    n.element.remove();
    n.resolve(JSON.stringify(OUTCOMES[action]));
    return true;
  }

  function tick() {
    var now = Date.now();
    state.notifications.slice().forEach(function (n) {
      var left = n.deadline - now;
      if (left <= 0) {
        answer(n, "Timeout");
        return;
      }
      n.countdown.textContent = "Times out in " + Math.ceil(left / 1000) + " s";
      n.bar.style.width = Math.max(0, Math.min(100, (left / n.timeoutMs) * 100)) + "%";
    });
  }
  setInterval(tick, 200);

  // --- sessions ----------------------------------------------------------------------------

  var tabs = document.getElementById("session-tabs");
  var sessionViews = document.getElementById("session-views");
  var homeView = document.getElementById("home-view");
  var homeTab = tabs.querySelector(".tab.home");
  document.getElementById("home-tab").addEventListener("click", function () { focusSession(null, true); });

  function addSession(input, shown) {
    state.counters.session += 1;
    var params = input.templateParameters || {};
    var id = "session-" + state.counters.session;
    var title = shown.title;
    var session = { id: id, title: title, templateName: input.templateName, params: params, tabs: shown.tabs };

    var rows = Object.keys(params).map(function (key) {
      return el("tr", {}, [el("th", { text: key }), el("td", { text: display(params[key]) })]);
    });
    session.view = el("section", { className: "view session-view", data: { sessionId: id }, attrs: { "aria-label": title } }, [
      el("h1", { text: title }),
      el("p", { className: "template" }, ["Template: ", el("code", { className: "template-name", text: input.templateName })]),
      el("div", { className: "app-tabs" }, shown.tabs.map(tabView)),
      el("div", { className: "card" }, [
        el("h2", { text: "Template parameters" }),
        el("table", { className: "grid params" }, [el("tbody", {}, rows)]),
      ]),
    ]);
    session.view.hidden = true;
    session.tab = el("li", { className: "tab", data: { sessionId: id, focused: "false" } }, [
      el("button", { className: "tab-main", attrs: { type: "button", title: title },
                     on: { click: function () { focusSession(id, true); } } }, [
        el("span", { className: "tab-icon call-icon", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "tab-title", text: title }),
      ]),
      el("button", { className: "tab-close", text: "×", attrs: { type: "button", "aria-label": "Close session " + title },
                     on: { click: function () { closeSession(id); } } }),
    ]);
    state.sessions.push(session);
    tabs.append(session.tab);
    sessionViews.append(session.view);
    focusSession(id, false); // Dynamics opens a new session in front
    return id;
  }

  /** One application tab of a session: a new record's form, a record, or a search. */
  function tabView(tab, index) {
    var rows = [], extra = null;
    function row(label, value, field) {
      rows.push(el("tr", {}, [el("th", { text: label }), el("td", { text: display(value), data: { field: field } })]));
    }
    var kind;
    if (tab.pageType === PAGE_ENTITY_RECORD && tab.data) {
      kind = "New " + (tab.parameters.entityName === "incident" ? "case" : display(tab.parameters.entityName));
      if (own(tab.data, "title")) row("Case title", tab.data.title, "title");
      if (tab.origin) row("Origin", tab.origin, "origin");
      if (own(tab.data, "customeridname")) row("Customer", tab.data.customeridname, "customer");
      if (own(tab.data, "description")) row("Description", tab.data.description, "description");
    } else if (tab.pageType === PAGE_ENTITY_RECORD) {
      kind = "Record";
      row("Table", tab.parameters.entityName, "entityName");
      row("Record id", tab.parameters.entityId, "entityId");
    } else if (tab.pageType === PAGE_SEARCH) {
      kind = "Search";
      row("Search for", tab.parameters.searchText, "searchText");
      extra = searchResults(display(tab.parameters.searchText), null, null);
    } else {
      kind = "Page type " + tab.pageType;
    }
    return el("section", { className: "card app-tab", data: { tab: tab.name, anchor: String(index === 0) } }, [
      el("h2", { className: "app-tab-title", text: tab.title || tab.name }),
      el("p", { className: "app-tab-kind", text: kind + (index === 0 ? " · anchor tab" : "") }),
      el("table", { className: "grid" }, [el("tbody", {}, rows)]),
      extra,
    ]);
  }

  function findSession(id) {
    return state.sessions.find(function (s) { return s.id === id; }) || null;
  }

  /** Bring a session (or Home, id null) to the front; a user's click raises onSessionSwitched. */
  function focusSession(id, byUser) {
    var session = id === null ? null : findSession(id);
    if (id !== null && !session) return false;
    if (state.focused === id) return true;
    state.focused = id;
    homeView.hidden = id !== null;
    homeTab.dataset.focused = String(id === null);
    state.sessions.forEach(function (s) {
      s.view.hidden = s.id !== id;
      s.tab.dataset.focused = String(s.id === id);
    });
    if (session && byUser) raise("onSessionSwitched", { sessionId: id, focussed: true, context: session.params });
    return true;
  }

  function closeSession(id) {
    var session = findSession(id);
    if (!session) return false;
    state.sessions.splice(state.sessions.indexOf(session), 1);
    session.tab.remove();
    session.view.remove();
    if (state.focused === id) focusSession(null, false);
    raise("onSessionClosed", { sessionId: id });
    return true;
  }

  // --- tasks, contacts, click-to-act ----------------------------------------------------------

  var taskList = document.getElementById("tasks");

  function addRecord(record) {
    state.tasks.push(record);
    document.getElementById("tasks-empty").hidden = true;
    record.element = el("li", { data: { recordId: record.id, entity: record.entity } });
    taskList.prepend(record.element);
    renderRecord(record);
  }

  /** A record's row: subject, table, state, what it is about, description. */
  function renderRecord(record) {
    var table = TABLES[record.entity];
    var stateText = table.states[record.statecode] + " · " + table.statusNames[record.statuscode];
    if (record.entity === "phonecall" && record.statecode === 1 && own(record, "actualdurationminutes")) {
      stateText += " · " + record.actualdurationminutes + " min";
    }
    var details = [];
    if (record.entity === "phonecall") {
      details.push((record.directioncode === false ? "Incoming" : record.directioncode === true ? "Outgoing" : "Direction not set") +
                   (record.phonenumber ? " " + record.phonenumber : ""));
    }
    if (record.regarding) details.push("Regarding " + record.regarding.entity + " " + (record.regarding.name || record.regarding.id));
    record.element.dataset.statecode = String(record.statecode);
    record.element.replaceChildren(
      el("div", { className: "record-head" }, [
        el("span", { className: "subject", text: display(record.subject) || "(no subject)" }),
        record.entity === "task" ? null : el("span", { className: "entity", text: record.entity }),
        el("span", { className: "state", text: stateText }),
        el("span", { className: "time", text: clock(record.created) }),
      ]),
      details.length ? el("div", { className: "details", text: details.join(" · ") }) : null,
      el("div", { className: "description", text: display(record.description) }));
  }

  // Labels of the phone columns as Dynamics' forms show them.
  var PHONE_LABELS = {
    contact: { mobilephone: "Mobile Phone", telephone1: "Business Phone", telephone2: "Home Phone" },
    account: { telephone1: "Main Phone", telephone2: "Other Phone" },
  };

  /** A phone column's value as Dynamics shows it on a form: a click-to-act link. */
  function phoneCell(entity, row, column) {
    var value = row[column];
    if (typeof value !== "string" || !value) return el("td", { text: "—" });
    return el("td", {}, [el("button", {
      className: "link phone", text: value,
      attrs: { type: "button", title: "Call " + value + " (" + PHONE_LABELS[entity][column] + ")" },
      data: { entity: entity, column: column },
      on: { click: function () { clickToAct(entity, row, column); } },
    })]);
  }

  function renderRecords() {
    [["contact", "#contacts"], ["account", "#accounts"]].forEach(function (pair) {
      var entity = pair[0], t = dataverse.tables[entity];
      var tbody = document.querySelector(pair[1] + " tbody");
      tbody.replaceChildren();
      t.rows.forEach(function (row) {
        tbody.append(el("tr", { data: { recordId: row[t.key], entity: entity } },
                        [el("td", { text: row[t.primaryName] })].concat(t.phones.map(function (c) { return phoneCell(entity, row, c); }))));
      });
    });
  }

  /** searchAndOpenRecords with searchOnly false and one result: the record opens (Home shows it). */
  function openRecord(entity, id) {
    document.querySelectorAll("tr[data-opened]").forEach(function (row) { delete row.dataset.opened; });
    var row = Array.prototype.find.call(document.querySelectorAll("#home-view tbody tr"),
                                        function (r) { return r.dataset.entity === entity && r.dataset.recordId === id; });
    if (row) row.dataset.opened = "true";
  }

  /** The search page's results for `text` (categorized search: names and phones that begin
   *  with it), or the records `ids` when a query named them. */
  function searchResults(text, entities, ids) {
    var hits = ids ? dataverse.quickFind("*", entities).filter(function (h) { return ids.indexOf(h.id) >= 0; })
                   : dataverse.quickFind(text, entities);
    var rows = hits.map(function (h) {
      var t = dataverse.tables[h.entity];
      var phones = t.phones.map(function (c) { return h.row[c]; }).filter(function (v) { return v; }).join(" · ");
      return el("tr", { data: { entity: h.entity, recordId: h.id } }, [
        el("td", { text: h.name }), el("td", { className: "entity", text: h.entity }), el("td", { text: phones }),
      ]);
    });
    return el("div", { className: "search-results", data: { searchText: text, count: String(hits.length) } }, [
      el("p", { className: "search-count", text: hits.length + (hits.length === 1 ? " result" : " results") +
                                                  (text ? " for " + text : "") }),
      el("table", { className: "grid" }, [el("tbody", {}, rows)]),
    ]);
  }

  /** searchAndOpenRecords' search page (searchOnly false): shown on Home. */
  function showSearch(text, entities, ids) {
    var card = document.getElementById("search-card");
    card.hidden = false;
    document.getElementById("search-box").value = text;
    card.querySelector(".search-results").replaceWith(searchResults(text, entities, ids));
    focusSession(null, false);
  }

  document.getElementById("search-box").addEventListener("input", function (e) {
    var card = document.getElementById("search-card");
    card.querySelector(".search-results").replaceWith(searchResults(e.target.value, null, null));
  });

  function clickToAct(entity, row, column) {
    if (!state.clickToAct) {
      var hint = document.getElementById("cta-hint");
      hint.dataset.flash = "true";
      setTimeout(function () { delete hint.dataset.flash; }, 1200);
      return false;
    }
    // CIF 2.0's eventData, exactly: the field's value, its logical name, its format, the table.
    return raise("onclicktoact", { value: row[column], name: column, format: "phone", entityLogicalName: entity });
  }

  // --- panel mode, status chips --------------------------------------------------------------

  function applyMode(mode) {
    state.mode = mode;
    body.dataset.mode = String(mode);
    var toggle = document.getElementById("panel-toggle");
    toggle.textContent = mode === 0 ? "+" : "–";
    toggle.title = mode === 0 ? "Expand" : "Minimize";
    toggle.setAttribute("aria-label", mode === 0 ? "Expand panel" : "Minimize panel");
    renderStatus();
  }

  function modeByUser(mode) {
    if (state.mode === mode) return;
    applyMode(mode);
    raise("onmodechanged", { value: mode });
  }
  document.getElementById("panel-toggle").addEventListener("click", function () { modeByUser(state.mode === 0 ? 1 : 0); });
  document.getElementById("mode-state").addEventListener("click", function () { modeByUser(1); });

  function renderStatus() {
    var cta = document.getElementById("cta-state");
    cta.textContent = "Click-to-act: " + (state.clickToAct ? "on" : "off");
    cta.dataset.on = String(state.clickToAct);
    body.dataset.clickToAct = String(state.clickToAct);
    document.getElementById("mode-state").textContent = "Panel: " + MODES[state.mode];
    var names = Array.from(state.handlers.keys());
    var handlers = document.getElementById("handlers-state");
    handlers.textContent = "Handlers: " + (names.length ? names.length : "none");
    handlers.title = names.length ? "Events the widget listens to: " + names.join(", ") : "The widget listens to no events";
  }

  // --- the CIF call log panel ------------------------------------------------------------------

  var logList = document.getElementById("cif-log");
  var logCount = document.getElementById("log-count");

  function addLogRow(kind, time, name, detail) {
    var result = el("span", { className: "result", text: "pending…" });
    var row = el("li", { className: "log-entry", data: { kind: kind, state: "pending" } }, [
      el("span", { className: "time", text: clock(time) }),
      el("span", { className: "dir", text: kind,
                   attrs: { title: kind === "call" ? "widget → host" : "host → widget" } }),
      el("code", { className: "method", text: name }),
      el("code", { className: "args", text: truncate(detail, 400), attrs: { title: truncate(detail, 4000) } }),
      result,
    ]);
    logList.prepend(row);
    while (logList.children.length > MAX_LOG_ROWS) logList.lastElementChild.remove();
    logCount.textContent = String(cifLog.length);
    return {
      settle: function (ok, value) {
        row.dataset.state = ok === null ? "skipped" : ok ? "ok" : "error";
        var text = (ok === false ? "✗ " : ok ? "✓ " : "") + display(value === undefined ? "ok" : value);
        result.textContent = truncate(text, 300);
        result.title = truncate(text, 4000);
      },
    };
  }

  function logCall(entry) {
    return addLogRow("call", new Date(entry.at), entry.method, display(entry.args));
  }

  function logEvent(record) {
    return addLogRow("event", new Date(record.at), "event " + record.name, record.payload);
  }

  // --- helpers for tests and people at the console ----------------------------------------------

  window.cifHost = {
    pendingNotifications: function () {
      return state.notifications.map(function (n, index) {
        return { index: index, id: n.id, templateName: n.templateName, templateParameters: n.params,
                 title: n.shown.title, fields: n.shown.fields, secondsLeft: Math.max(0, Math.ceil((n.deadline - Date.now()) / 1000)) };
      });
    },
    answer: function (index, action) {
      if (action !== "Accept" && action !== "Reject") throw new Error('action must be "Accept" or "Reject"');
      var n = state.notifications[index];
      if (!n) throw new Error("no pending notification at index " + index);
      return answer(n, action);
    },
    sessions: function () {
      return state.sessions.map(function (s) {
        return { sessionId: s.id, title: s.title, templateName: s.templateName, templateParameters: s.params,
                 tabs: s.tabs, focused: state.focused === s.id };
      });
    },
    tasks: function () {
      return state.tasks.filter(function (t) { return t.entity === "task"; }).map(function (t) {
        return { id: t.id, entity: t.entity, subject: t.subject, description: t.description };
      });
    },
    phoneCalls: function () {
      return state.tasks.filter(function (t) { return t.entity === "phonecall"; }).map(function (t) {
        var copy = {};
        Object.keys(t).forEach(function (k) { if (k !== "element" && k !== "created") copy[k] = t[k]; });
        return copy;
      });
    },
    withdrawn: function () { return state.withdrawn.slice(); },
    presence: function () { return Object.assign({}, state.presence); },
    setPresence: function (text) { return changePresence(text); }, // as the agent picks it in the selector
    /** Click the first phone field (contacts, then accounts) saved as `phone`. */
    clickToAct: function (phone) {
      var entities = ["contact", "account"];
      for (var i = 0; i < entities.length; i++) {
        var t = dataverse.tables[entities[i]];
        for (var j = 0; j < t.rows.length; j++) {
          var column = t.phones.find(function (c) { return t.rows[j][c] === phone; });
          if (column) return clickToAct(entities[i], t.rows[j], column);
        }
      }
      throw new Error("no record has a phone field saved as " + phone);
    },
    searchPage: function () {
      var card = document.getElementById("search-card");
      var results = card.querySelector(".search-results");
      return card.hidden ? null : { searchText: results.dataset.searchText, count: Number(results.dataset.count) };
    },
    switchSession: function (id) { return focusSession(id, true); },
    closeSession: function (id) { return closeSession(id); },
    events: function () {
      return state.events.map(function (e) {
        return { id: e.id, name: e.name, payload: e.payload, delivered: e.delivered, handled: e.handled };
      });
    },
    handlers: function () { return Object.fromEntries(state.handlers); },
    mode: function () { return state.mode; },
    clickToActEnabled: function () { return state.clickToAct; },
    templates: function () { return TEMPLATES; },
    contactsLoaded: function () { return recordsReady.then(function () { return dataverse.tables.contact.rows.length; }); },
  };

  renderStatus();
  // Load the widget only now that the message listener is in place: its first calls
  // (setClickToAct, addHandler…) must not arrive before anyone listens.
  frame.src = frame.dataset.src;
})();
