"""The local stack over real HTTPS: health, JSON errors, the widget files and their types."""
import socket
import ssl


def test_healthz_reports_ok_and_version(stack):
    r = stack.session().get(stack.url + "/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"] == __import__("server").__version__


def test_unknown_route_is_json_404(stack):
    r = stack.session().get(stack.url + "/no/such/route")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == "not_found"


def test_certificate_covers_localhost_and_both_loopbacks(stack):
    ctx = ssl.create_default_context(cafile=str(stack.certs.ca))
    for host, addr in (("localhost", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("::1", "::1")):
        with socket.create_connection((addr, stack.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_widget_files_are_served_with_module_and_wasm_types(stack):
    s = stack.session()
    base = stack.url + "/widget/"
    assert s.get(base).headers["content-type"].startswith("text/html")
    assert s.get(base + "vendor/pyodide/pyodide.mjs").headers["content-type"].startswith("text/javascript")
    assert s.get(base + "vendor/pyodide/pyodide.asm.wasm").headers["content-type"] == "application/wasm"
    assert s.get(base + "vendor/pyscript/core.js").status_code == 200


def test_widget_does_not_serve_files_outside_web(stack):
    s = stack.session()
    for path in ("../server/settings.py", "..%2fserver%2fsettings.py", "vendor/.setup-stamp", "../.local/certs/server-key.pem"):
        assert s.get(stack.url + "/widget/" + path).status_code == 404, path
