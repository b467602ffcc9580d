// PyScript's `interpreter` (pyscript.toml): Pyodide's own loader, started from a memory
// snapshot of an interpreter that has already imported the standard-library modules the
// widget and PyScript import (made at set-up by tools/snapshot.py, beside this file), so
// the page skips Python's start-up and those imports. Whatever goes wrong with the
// snapshot — none for this kind of runtime, another build, a failed restore — the page
// boots Pyodide the ordinary way.
//
// tools/setup.py copies this file into web/vendor/pyodide/ beside pyodide.mjs: PyScript
// takes the directory of its `interpreter` module as Pyodide's indexURL.
import { loadPyodide as pyodideLoad, version } from "./pyodide.mjs";

// A snapshot holds the interpreter's view of the runtime: one made where WebAssembly has
// JavaScript Promise Integration (Chromium) works only where it has it too.
const JSPI = !!globalThis.WebAssembly && "Suspending" in WebAssembly;
const SNAPSHOT = new URL(JSPI ? "./snapshot-jspi.bin.gz" : "./snapshot-nojspi.bin.gz", import.meta.url);

// How this page booted, for diagnostics, benchmarks and tests.
const boot = (globalThis.pyodideBoot = { snapshot: "not tried", started: performance.now() });

async function fetchSnapshot() {
  const response = await fetch(SNAPSHOT);
  if (!response.ok) throw new Error(`no snapshot (HTTP ${response.status})`);
  const memory = response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(memory).arrayBuffer());
}

export async function loadPyodide(options = {}) {
  try {
    const snapshot = await fetchSnapshot();
    const pyodide = await pyodideLoad({ ...options, _loadSnapshot: snapshot });
    boot.snapshot = "used";
    boot.ready = performance.now();
    return pyodide;
  } catch (error) {
    boot.snapshot = `fell back: ${String(error && error.message ? error.message : error).split("\n")[0]}`;
    console.warn(`[pyodide-boot] booting without the snapshot (${boot.snapshot})`);
  }
  const pyodide = await pyodideLoad(options);
  boot.ready = performance.now();
  return pyodide;
}

export { version };
