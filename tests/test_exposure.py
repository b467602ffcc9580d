"""Who reaches what (README, Security): the dev console and the local identity provider
answer loopback clients only — judged on the connection's own address, never a header —
and are off entirely beside real Azure or Entra ID; a non-loopback --host needs
--expose-to-network and says what it exposes.

In process, the peer address is what the WSGI server put in REMOTE_ADDR; over the network,
a server started with --host 0.0.0.0 inside a network namespace of its own is called from
outside the namespace, over a veth pair (a non-loopback peer on this machine only)."""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from http.client import HTTPSConnection

import pytest

from server.config import local_setup
from server.settings import ConfigError, Settings
from testkit.server import REPO, ServerProcess, local_stack

ELSEWHERE = "198.18.0.2"  # RFC 2544 benchmarking range: never a real host
SPOOFED = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1", "X-Real-IP": "127.0.0.1",
           "X-Client-IP": "127.0.0.1", "Host": "localhost"}


def guarded_paths(tenant: str) -> list[tuple[str, str]]:
    return [("GET", "/console"), ("GET", "/console/api/state"), ("POST", "/console/api/call"),
            ("GET", f"/{tenant}/v2.0/.well-known/openid-configuration"), ("GET", f"/{tenant}/discovery/v2.0/keys"),
            ("GET", f"/{tenant}/oauth2/v2.0/authorize"), ("POST", f"/{tenant}/oauth2/v2.0/authorize"),
            ("POST", f"/{tenant}/oauth2/v2.0/token")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    local = local_stack(tmp_path_factory.mktemp("exposure"))
    yield local.flask_app
    local.functions.store.close()


def client_from(app, **environ):
    """A test client whose requests carry these WSGI environ values (as a server sets them)."""
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def test_console_and_identity_provider_refuse_peers_that_are_not_this_machine(app):
    tenant = app.extensions["config"].local_directory.tenant_id
    remote = client_from(app, REMOTE_ADDR=ELSEWHERE)
    local = app.test_client()  # REMOTE_ADDR 127.0.0.1
    for method, path in guarded_paths(tenant):
        for headers in ({}, SPOOFED):
            r = remote.open(path, method=method, headers=headers)
            assert r.status_code == 403 and r.json["error"] == "loopback_only", (path, headers, r.status_code)
            assert ELSEWHERE in r.json["message"]
        r = local.open(path, method=method)
        assert r.status_code != 403 or r.json["error"] != "loopback_only", path
    # not guarded: what production serves too
    for path in ("/healthz", "/widget/", "/widget/config.json", "/"):
        assert remote.get(path).status_code == 200, path


@pytest.mark.parametrize("peer,server,allowed", [
    ("127.0.0.1", "127.0.0.1", True), ("127.8.9.10", "127.0.0.1", True), ("::1", "::1", True),
    ("::ffff:127.0.0.1", "::", True), ("198.18.0.1", "198.18.0.1", True),  # this machine, its own address
    ("198.18.0.2", "198.18.0.1", False), ("10.0.0.7", "0.0.0.0", False), ("fe80::1", "fe80::2", False),
    ("", "127.0.0.1", False), ("localhost.evil.example", "127.0.0.1", False),
])
def test_the_peer_check(app, peer, server, allowed):
    client = client_from(app, REMOTE_ADDR=peer)
    host = f"[{server}]" if ":" in server else server  # the server's own address, as SERVER_NAME
    assert (client.get("/console/api/state", base_url=f"https://{host}").status_code == 200) is allowed


@pytest.mark.parametrize("settings,real", [
    ({}, []),
    ({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, []),
    ({"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                             "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"}, []),
    ({"AzureSignalRConnectionString": "Endpoint=https://localhost:8443;AccessKey=k;Version=1.0;"}, []),
    ({"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=a2V5;"
                             "EndpointSuffix=core.windows.net"}, ["AzureWebJobsStorage"]),
    ({"AzureSignalRConnectionString": "Endpoint=https://contoso.service.signalr.net;AccessKey=k;Version=1.0;"},
     ["AzureSignalRConnectionString"]),
])
def test_real_azure_settings_need_entra_id(tmp_path, settings, real):
    """Beside real Azure data the local identity provider (anyone signs in) must not run:
    such a stack needs Authority, and then the console and the provider are off."""
    if real:
        with pytest.raises(ConfigError, match="Authority"):
            local_setup(Settings(state_dir=tmp_path, **settings))
    else:
        assert local_setup(Settings(state_dir=tmp_path, **settings)).local_stand_ins
    entra = {"Authority": "https://login.microsoftonline.com/contoso", "AzureAd__ClientId": "c",
             "ApiScope": "api://c/access_as_user"}
    stack = local_setup(Settings(state_dir=tmp_path, **settings, **entra))
    assert not stack.local_stand_ins and stack.real_azure == ("Authority", *real)


def test_a_non_loopback_host_needs_the_flag(tmp_path):
    env = {**os.environ, "ADAPTOR_STATE_DIR": str(tmp_path)}
    for host in ("0.0.0.0", "::", "192.0.2.10", "myhost.example"):
        r = subprocess.run([sys.executable, "-m", "server", "--host", host, "--port", "0"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--expose-to-network" in r.stderr, (host, r.stderr)
    assert not (tmp_path / "certs").exists()  # refused before anything was set up


# --- over the network: a second, non-loopback address in a namespace of our own ----------------

NS_SCRIPT = """
import json, ssl, sys
from http.client import HTTPSConnection
ctx = ssl.create_default_context(cafile=sys.argv[2])
out = {}
for path in sys.argv[3:]:
    c = HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=10)
    c.request("GET", path)
    out[path] = c.getresponse().status
print(json.dumps(out))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def namespace():
    """A network namespace joined to ours by a veth pair: outside 198.18.x.1, inside .2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (CI has both)")
    tag = os.getpid() % 100_000
    name, outer, inner = f"adaptor-t{tag}", f"vxo{tag}", f"vxi{tag}"
    octet, base = (tag >> 6) % 256, (tag % 64) * 4
    outside, inside = f"198.18.{octet}.{base + 1}", f"198.18.{octet}.{base + 2}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("addr", "add", f"{outside}/30", "dev", outer)
        _ip("link", "set", outer, "up")
        for cmd in (["addr", "add", f"{inside}/30", "dev", inner], ["link", "set", inner, "up"],
                    ["link", "set", "lo", "up"]):
            _ip("netns", "exec", name, "ip", *cmd)
        yield name, outside, inside
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def exposed(namespace, tmp_path_factory):
    """`python -m server --host 0.0.0.0 --expose-to-network` inside the namespace."""
    name, _, inside = namespace
    stack = ServerProcess(tmp_path_factory.mktemp("exposed"), prefix=("ip", "netns", "exec", name),
                          args=("--host", "0.0.0.0", "--expose-to-network")).start(timeout=30, healthz=False)
    deadline = time.monotonic() + 30
    while get(stack, inside, "/healthz")[0] != 200:  # the port answers across the veth
        assert time.monotonic() < deadline, stack.log.read_text()
        time.sleep(0.1)
    yield stack
    stack.stop()


def get(stack, address: str, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(stack.certs.ca))
    ctx.check_hostname = False  # the certificate names loopback only; the chain is still checked
    conn = HTTPSConnection(address, stack.port, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
    except OSError:
        return 0, {}
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, {}


def test_exposed_stack_says_what_it_exposes(exposed):
    banner = exposed.log.read_text()
    assert "EXPOSED" in banner and "0.0.0.0" in banner and "this machine only" in banner


def test_over_the_network_only_what_production_serves_answers(exposed, namespace):
    name, outside, inside = namespace
    tenant = json.loads((exposed.state_dir / "identity.json").read_text())["tenant_id"]
    for method, path in guarded_paths(tenant):
        for headers in ({}, SPOOFED):
            status, body = get(exposed, inside, path, method, headers)
            assert status == 403 and body["error"] == "loopback_only" and outside in body["message"], (path, status)
    for path in ("/healthz", "/widget/"):
        assert get(exposed, inside, path)[0] == 200, path
    # inside the namespace, on its loopback, the same server serves the console and the provider
    r = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", NS_SCRIPT, str(exposed.port),
                        str(exposed.certs.ca), "/console/api/state", f"/{tenant}/discovery/v2.0/keys"],
                       capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout) == {"/console/api/state": 200, f"/{tenant}/discovery/v2.0/keys": 200}, r.stderr
