// Runs tools/bytecode.py under Pyodide's own Python (from the npm package) so the
// .pyc files match the browser interpreter exactly. Usage:
//   node tools/precompile.mjs <mode> <out> <inputs...>   (paths on the host)
import { loadPyodide } from "pyodide";
import { readFileSync, realpathSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const [mode, out, ...inputs] = process.argv.slice(2);

const py = await loadPyodide({ indexURL: resolve(root, "node_modules/pyodide") + "/" });
// Mount / of the host at /host so any absolute path can be read and written.
py.FS.mkdirTree("/host");
py.FS.mount(py.FS.filesystems.NODEFS, { root: "/" }, "/host");
const mod = py.runPython(readFileSync(resolve(here, "bytecode.py"), "utf8") + "\nmain");
// Real paths: Emscripten's NODEFS does not follow host symlinks (node_modules may be one).
const host = (p) => "/host" + realpathSync(resolve(p));
const hostOut = (p) => host(dirname(p)) + "/" + basename(p);
mod(py.toPy([mode, hostOut(out), ...inputs.map(host)]));
