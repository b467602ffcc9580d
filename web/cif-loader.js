// Loads Dynamics' CIF library (msdyn_ciLibrary.js) as CIF 2.0 widgets do: from the org
// named by the `ucilib` URL parameter (https only), with data-crmurl = its origin.
(function () {
  var lib = new URLSearchParams(window.location.search).get("ucilib");
  var url;
  try { url = lib && new URL(lib); } catch (e) { url = null; }
  window.cifLibrary = { requested: !!lib, ok: false, error: null };
  if (!url || url.protocol !== "https:") {
    window.cifLibrary.error = lib ? "ucilib must be an https URL" : "no ucilib parameter";
    return;
  }
  var s = document.createElement("script");
  s.src = url.href;
  s.setAttribute("data-crmurl", url.origin);
  s.setAttribute("data-cifid", "CIFMainLibrary");
  s.onload = function () { window.cifLibrary.ok = !!(window.Microsoft && window.Microsoft.CIFramework); };
  s.onerror = function () { window.cifLibrary.error = "could not load " + url.href; };
  document.head.appendChild(s);
})();
