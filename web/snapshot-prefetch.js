// Starts reading Pyodide's memory snapshot (the preload below it in index.html) the moment
// the page is parsed, so the 30 MiB reach this page while PyScript is still starting;
// web/pyodide-boot.mjs takes the bytes from window.pyodideSnapshot (and fetches them itself
// when this did not run).
(function () {
  var link = document.querySelector('link[rel="preload"][href*="/snapshot-jspi."]');
  if (!link || !window.WebAssembly || !("Suspending" in WebAssembly)) return;
  window.pyodideSnapshot = fetch(link.href).then(function (response) {
    if (!response.ok) throw new Error("no snapshot (HTTP " + response.status + ")");
    return response.arrayBuffer();
  });
  window.pyodideSnapshot.catch(function () {});  // reported where it is used
})();
