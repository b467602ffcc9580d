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

// Our server sends the gzip file with Content-Encoding: gzip, so the browser inflates it off
// the main thread while the page is still loading (index.html preloads it); a host that sends
// it as it is gets it inflated here.
async function fetchSnapshot() {
  let bytes;
  if (globalThis.pyodideSnapshot) {  // started by snapshot-prefetch.js
    bytes = new Uint8Array(await globalThis.pyodideSnapshot);
  } else {
    const response = await fetch(SNAPSHOT);
    if (!response.ok) throw new Error(`no snapshot (HTTP ${response.status})`);
    bytes = new Uint8Array(await response.arrayBuffer());
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    bytes = new Uint8Array(await new Response(inflated).arrayBuffer());
  }
  return unsparse(bytes);
}

// tools/snapshot.py left out the all-zero pages: "SPRS", total length, page size, page count,
// the kept pages' indices (u32 little-endian), then the pages.
function unsparse(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || String.fromCharCode(...bytes.subarray(0, 4)) !== "SPRS") throw new Error("not a sparse snapshot");
  const total = view.getUint32(4, true), page = view.getUint32(8, true), count = view.getUint32(12, true);
  const memory = new Uint8Array(total);
  let from = 16 + 4 * count;
  for (let i = 0; i < count; i++) {
    const at = view.getUint32(16 + 4 * i, true) * page, length = Math.min(page, total - at);
    if (from + length > bytes.length) throw new Error("truncated snapshot");
    memory.set(bytes.subarray(from, from + length), at);
    from += length;
  }
  return memory;
}

export async function loadPyodide(options = {}) {
  try {
    const snapshot = await fetchSnapshot();
    boot.snapshotRead = performance.now();
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
