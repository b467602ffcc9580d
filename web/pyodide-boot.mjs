// PyScript's `interpreter` (pyscript.toml): Pyodide's own loader, started from a memory
// snapshot of an interpreter that has already imported the widget's standard-library
// modules (made at set-up by tools/snapshot.mjs under Node, beside this file), so the page
// skips Python's start-up and those imports. Whatever goes wrong with the snapshot —
// missing, another build, a failed restore — the page boots Pyodide the ordinary way.
//
// tools/setup.py copies this file into web/vendor/pyodide/ beside pyodide.mjs: PyScript
// takes the directory of its `interpreter` module as Pyodide's indexURL.
import { loadPyodide as pyodideLoad, version } from "./pyodide.mjs";

const SNAPSHOT = new URL("./snapshot.bin", import.meta.url);

// How this page booted, for diagnostics, benchmarks and tests.
const boot = (globalThis.pyodideBoot = { snapshot: "not tried", started: performance.now() });

async function fetchSnapshot() {
  const response = await fetch(SNAPSHOT);
  if (!response.ok) throw new Error(`snapshot: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function loadPyodide(options = {}) {
  try {
    const snapshot = await fetchSnapshot();
    const pyodide = await pyodideLoad({ ...options, _loadSnapshot: snapshot });
    boot.snapshot = "used";
    boot.ready = performance.now();
    return pyodide;
  } catch (error) {
    boot.snapshot = `fell back: ${error && error.message ? error.message.split("\n")[0] : error}`;
    console.warn(`[pyodide-boot] booting without the snapshot (${boot.snapshot})`);
  }
  const pyodide = await pyodideLoad(options);
  boot.ready = performance.now();
  return pyodide;
}

export { version };
