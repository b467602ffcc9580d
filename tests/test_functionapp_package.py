"""The Azure Functions package (tools/package_functionapp.sh) as Azure runs it: every
module it contains imports with no web framework, and — in a virtual environment made
from its requirements.txt alone — function_app lists the sample's functions and serves
them through azure.functions objects with real tokens and a real store."""
import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import azure_settings, call_payload, new_agent, run_async
from tests.test_azure_functions import CASES, _token, check

REPO = Path(__file__).resolve().parent.parent
VENVS = REPO / ".local" / "functionapp-venv"  # one per requirements.txt hash (git-ignored)
WEB_FRAMEWORKS = ("flask", "werkzeug", "starlette", "uvicorn", "a2wsgi")
SEED_FUNCTIONS = {"negotiate", "userclient", "SendMessageToUser", "OnClientConnected", "OnClientDisconnect",
                  "SendMessageAcknowlegement"}


def package_modules(root: Path = REPO) -> list[str]:
    """Module names of everything functionapp/package-contents.txt puts in the package."""
    modules = []
    for line in (REPO / "functionapp" / "package-contents.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        files = sorted((root / line).rglob("*.py")) if line.endswith("/") else [root / line]
        for path in files:
            parts = path.relative_to(root).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


# azure.functions itself needs Werkzeug (its HttpRequest headers): it is imported first,
# then the frameworks are dropped from sys.modules and blocked, so any import of them by
# our code fails while azure.functions keeps the objects it already holds.
BLOCKER = """
import importlib.abc, sys
import azure.functions
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is blocked: the Azure Functions package must not need it")
sys.meta_path.insert(0, Blocked())
for name in list(sys.modules):
    if name.split(".")[0] in {blocked!r}:
        del sys.modules[name]
"""


def test_package_imports_with_web_frameworks_blocked():
    modules = package_modules()
    assert {"server.functions.handlers", "server.auth", "server.store.tables", "server.settings",
            "server.functions.signalr_rest", "adaptor_core.connection"} <= set(modules)
    code = BLOCKER.format(blocked=WEB_FRAMEWORKS) + f"""
import importlib, json
sys.path.insert(0, {str(REPO / 'functionapp')!r})
for name in {modules!r} + ["function_app"]:
    importlib.import_module(name)
import function_app
print(json.dumps(sorted(f.get_function_name() for f in function_app.app.get_functions())))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "ADAPTOR_STATE_DIR": "/nonexistent"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert SEED_FUNCTIONS <= set(json.loads(out.stdout.strip().splitlines()[-1]))


# --- the package in a venv made from its requirements.txt alone --------------------------

@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """build/functionapp made by the project's own script (into a temporary folder)."""
    out = tmp_path_factory.mktemp("functionapp") / "functionapp"
    run = subprocess.run(["bash", str(REPO / "tools" / "package_functionapp.sh"), str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def clean_python(package) -> Path:
    """A venv with nothing but `pip install -r requirements.txt` of the package, kept under
    .local/ by the file's hash so later runs (and CI's second use) reuse it."""
    requirements = package / "requirements.txt"
    venv = VENVS / hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                  "--disable-pip-version-check", "-r", str(requirements)],
                                 capture_output=True, text=True, timeout=1200)
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
        (venv / ".complete").write_text(requirements.read_text())
    return venv / "bin" / "python"


def pinned(requirements: Path) -> dict[str, str]:
    lines = [line.strip() for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert all("==" in line for line in lines), [line for line in lines if "==" not in line]
    return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines}


def test_requirements_are_pinned_to_the_lock_and_complete(package, clean_python):
    wanted = pinned(package / "requirements.txt")
    locked = pinned(REPO / "requirements.lock")
    assert {k: locked.get(k) for k in wanted} == wanted  # the same versions the suite runs with
    freeze = subprocess.run([str(clean_python), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
                 for line in freeze.splitlines() if "==" in line}
    installed = {k: v for k, v in installed.items() if k not in ("pip", "setuptools", "wheel")}
    assert installed == wanted  # pip pulled in nothing unpinned


def test_function_app_imports_in_a_clean_venv(package, clean_python):
    code = f"""
import importlib, importlib.util, json
for name in {WEB_FRAMEWORKS[:1] + WEB_FRAMEWORKS[2:]!r}:
    assert importlib.util.find_spec(name) is None, name + " is installed"
for name in {package_modules(package)!r}:
    importlib.import_module(name)
import function_app
print(json.dumps(sorted(f.get_function_name() for f in function_app.app.get_functions())))
"""
    out = subprocess.run([str(clean_python), "-c", code], cwd=package, capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    names = set(json.loads(out.stdout))
    assert SEED_FUNCTIONS <= names and {"messages", "ReconcileConnections", "dials", "RequestDial", "DeliverDials",
                                                                 "openapi"} <= names


def http_step(name, method, path, token, body=None, route=None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, tuple):
        text, headers["Content-Type"] = body[0].decode(), body[1]
    elif body is not None:
        text, headers["Content-Type"] = json.dumps(body), "application/json"
    else:
        text = ""
    return {"http": name, "method": method, "url": f"https://contoso-adaptor.azurewebsites.net{path}",
            "headers": headers, "body": text, "route": route or {}}


def trigger_plans(identity, tokens, connection: str) -> list[tuple[list[dict], list]]:
    """Every SignalR trigger and the timer, interleaved with HTTP calls that show their
    effect, with the expected result of each step: phase 1 while `connection` (alice's, on
    the service) is open, phase 2 after it closed."""
    alice, message = identity.oid("alice"), "pkg-" + uuid.uuid4().hex[:8]

    def ctx(category, event, arguments=()):
        return {"ConnectionId": connection, "UserId": alice, "Hub": "myhub", "Category": category, "Event": event,
                "Arguments": list(arguments), "Headers": {}, "Query": {}, "Claims": {}}

    def claim(who):
        return http_step("userclient", "POST", "/api/userclient", tokens[who], {"connectionId": connection})

    open_phase = [
        ({"trigger": "OnClientConnected", "invocation": ctx("connections", "connected")}, {"ok": True}),
        (claim("bob"), (404, "unknown_connection")),  # a foreign connection reads as unknown
        (claim("alice"), (200, None)),
        (http_step("SendMessageToUser", "POST", "/api/SendMessageToUser", tokens["sender"],
                   {"userId": alice, "message": call_payload(), "messageId": message, "ttlSeconds": 30}), (202, "sent")),
        ({"trigger": "SendMessageAcknowlegement", "invocation": ctx("messages", "sendMessage", [
            {"messageId": message, "outcome": "Rejected", "reason": "busy"}])}, {"ok": True}),
        (http_step("messages", "GET", f"/api/messages/{message}", tokens["sender"], route={"messageId": message}),
         (200, "rejected")),
        ({"trigger": "SendMessageAcknowlegement", "invocation": ctx("messages", "sendMessage", [42])}, {"ok": True}),
        # click-to-dial is off without DialWebhookUrl: refused (logged), nothing stored
        ({"trigger": "RequestDial", "invocation": ctx("messages", "requestDial", [
            {"dialId": "pkg-dial", "number": "+15551234567"}])}, {"ok": True}),
        (http_step("dials", "GET", "/api/dials/pkg-dial", tokens["sender"], route={"dialId": "pkg-dial"}),
         (404, "unknown_dial")),
        ({"timer": "DeliverDials"}, {"ok": True}),
        (http_step("openapi", "GET", "/api/openapi.json", None), (200, None)),
    ]
    closed_phase = [
        ({"trigger": "OnClientDisconnect", "invocation": ctx("connections", "disconnected")}, {"ok": True}),
        ({"timer": "ReconcileConnections"}, {"ok": True}),
        (claim("alice"), (404, "unknown_connection")),  # gone from the service and the store
    ]
    return [([s for s, _ in phase], [e for _, e in phase]) for phase in (open_phase, closed_phase)]


def check_steps(steps, expected, results) -> None:
    for step, want, got in zip(steps, expected, results, strict=True):
        if isinstance(want, dict):
            assert got == want, (step, got)
        else:
            assert got["status"] == want[0], (step, got)
            if want[1]:
                assert want[1] in (got["body"].get("error"), got["body"].get("status")), (step, got)


def drive(clean_python, package, env, steps) -> list:
    out = subprocess.run([str(clean_python), str(REPO / "tests" / "functionapp_driver.py")], cwd=package,
                         input=json.dumps({"steps": steps}), capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", **env})
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("auth", ["AccessKey", "AuthType=azure.msi"])
def test_every_function_runs_from_the_package(auth, package, clean_python, stack, identity, tokens, azurite):
    """The shared case table (tests/test_azure_functions.py) and every trigger, through
    azure.functions objects in the clean venv: real tokens from the local identity provider,
    Azure Tables on Azurite, the local SignalR service by key or by managed identity."""
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    signalr = f"Endpoint={stack.url};AccessKey={secrets['signalr_primary_key']};Version=1.0;" if auth == "AccessKey" \
        else f"Endpoint={stack.url};AuthType=azure.msi;Version=1.0;"
    env = {**azure_settings(stack, identity, azurite, signalr), "IDENTITY_ENDPOINT": f"{stack.url}/msi/token",
           "IDENTITY_HEADER": secrets["identity_header"]}
    case_steps = [http_step(fn, method, path, _token(tokens, who), body, route)
                  for _name, fn, method, path, route, who, body, _s, _e in CASES]
    for case, result in zip(CASES, drive(clean_python, package, env, case_steps), strict=True):
        check(result["status"], result["body"], case[7], case[8])

    async def triggers():
        agent = new_agent(stack, tokens["alice"], register=False)  # a real connection on the service
        await agent.start()
        await agent.wait_registered()
        (open_steps, open_expected), (closed_steps, closed_expected) = trigger_plans(
            identity, tokens, agent.core.connection_id)
        check_steps(open_steps, open_expected, await asyncio.to_thread(drive, clean_python, package, env, open_steps))
        await agent.stop()
        check_steps(closed_steps, closed_expected,
                    await asyncio.to_thread(drive, clean_python, package, env, closed_steps))

    run_async(triggers())
