/* The channel provider's landing page (web resource cifad_/adaptor/landing.js).
 *
 * Runs on the Dynamics org's origin, so the Dataverse Web API answers it with the agent's
 * own session. It reads the adaptor's environment variables — the current value
 * (environmentvariablevalue.value) when one is set, else the definition's defaultvalue —
 * then replaces itself with the widget (the channel provider's trusted domain), passing
 *   ucilib=<org>/webresources/Widget/msdyn_ciLibrary.js and the four settings
 * as URL parameters, which the widget reads before anything else. A variable with neither
 * value is shown here as an error naming it; the widget is not opened.
 */
(function () {
  "use strict";

  var VARIABLES = { // widget setting → environment variable schema name
    AdaptorFunctionUrl: "cifad_AdaptorFunctionUrl",
    ClientId: "cifad_ClientId",
    Authority: "cifad_Authority",
    Scope: "cifad_Scope",
  };
  var EXPAND = "environmentvariabledefinition_environmentvariablevalue";
  var status = document.getElementById("status");

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function query() {
    var names = Object.keys(VARIABLES).map(function (k) { return "schemaname eq '" + VARIABLES[k] + "'"; });
    return "/api/data/v9.2/environmentvariabledefinitions?$select=schemaname,defaultvalue" +
      "&$filter=" + encodeURIComponent(names.join(" or ")) +
      "&$expand=" + EXPAND + "($select=value)";
  }

  /** {setting: value} from the Web API's answer; throws naming every variable without a value. */
  function settings(answer) {
    var bySchema = {};
    (answer && Array.isArray(answer.value) ? answer.value : []).forEach(function (row) {
      bySchema[row.schemaname] = row;
    });
    var values = {}, missing = [];
    Object.keys(VARIABLES).forEach(function (key) {
      var row = bySchema[VARIABLES[key]];
      var current = row && Array.isArray(row[EXPAND]) && row[EXPAND].length ? row[EXPAND][0].value : null;
      var value = [current, row ? row.defaultvalue : null].find(function (v) {
        return typeof v === "string" && v.trim() !== "";
      });
      if (value === undefined) missing.push(VARIABLES[key] + (row ? " has no value" : " is not defined"));
      else values[key] = value.trim();
    });
    if (missing.length) {
      throw new Error("Environment variable " + missing.join("; ") +
                      ". Set it in Power Apps → Solutions → CIF notification adaptor → Environment variables.");
    }
    return values;
  }

  function widgetUrl(values) {
    var meta = document.querySelector('meta[name="cifad-widget-url"]');
    var url = new URL(meta.content, location.href);
    if (url.protocol !== "https:") throw new Error("The widget URL must be https: " + meta.content);
    url.searchParams.set("ucilib", location.origin + "/webresources/Widget/msdyn_ciLibrary.js");
    Object.keys(values).forEach(function (key) { url.searchParams.set(key, values[key]); });
    return url.href;
  }

  fetch(location.origin + query(), {
    credentials: "same-origin",
    headers: { "Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0" },
  }).then(function (response) {
    return response.json().catch(function () { return null; }).then(function (body) {
      if (!response.ok) {
        var detail = body && body.error && body.error.message ? body.error.message : "HTTP " + response.status;
        throw new Error("Could not read the adaptor's environment variables: " + detail);
      }
      return body;
    });
  }).then(function (answer) {
    var target = widgetUrl(settings(answer));
    show("redirecting", "Opening the adaptor…");
    location.replace(target);
  }).catch(function (err) {
    show("error", err.message);
  });
})();
