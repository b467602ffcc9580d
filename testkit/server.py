"""A `python -m server` process for a test or a run: temp state dir, load users, kill and
restart on the same port; clients that trust exactly its dev CA (requests, httpx, ssl);
and the local stack built in this process instead (`local_stack`)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import httpx
import requests

from server.devcerts import DevCerts, ensure_dev_certs
from server.http_client import tls_context

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port nobody listens on now (to restart a server on a known port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    state_dir: Path
    load_users: int = 0
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    log_level: str = "warning"
    entry: tuple[str, ...] = ("-m", "server")  # what `python` runs
    args: tuple[str, ...] = ()  # more arguments of `python -m server` (e.g. --host)
    prefix: tuple[str, ...] = ()  # a command to run it under (e.g. ip netns exec NAME)
    process: subprocess.Popen | None = None
    starts: int = 0

    # --- lifecycle ------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.state_dir / f"server-{self.starts}.log"

    @property
    def log(self) -> Path:
        """The log of the current (latest) start."""
        return self.log_path

    def start(self, timeout: float = 60, healthz: bool = True) -> ServerProcess:
        """Start (or restart, on the port it had) and wait for its banner, then (unless
        `healthz` is False: not reachable from here) for /healthz."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        env = {**os.environ, "ADAPTOR_STATE_DIR": str(self.state_dir), "PYTHONUNBUFFERED": "1",
               "ADAPTOR_IDP_LOAD_USERS": str(self.load_users), **self.env}
        env.pop("ADAPTOR_SETTINGS_FILE", None)
        out = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, *self.entry, *self.args, "--port", str(self.port),
             "--log-level", self.log_level], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            m = re.search(r"on https://127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if m:
                self.port = int(m.group(1))
                if not healthz:
                    return self
                try:
                    with self.http() as http:
                        if http.get(self.url + "/healthz", timeout=2).status_code == 200:
                            return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer /healthz in {timeout:.0f} s:\n{self.log_path.read_text()}")

    def restart(self, timeout: float = 60) -> ServerProcess:
        """Start again on the same port and state dir (after kill() or stop())."""
        return self.start(timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no disconnected events, as a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses and secrets --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def widget_url(self) -> str:
        # Widget on `localhost`, host page on 127.0.0.1: two origins, as in Dynamics.
        return f"https://localhost:{self.port}/widget/"

    @property
    def ca(self) -> Path:
        return self.state_dir / "certs" / "ca.pem"

    @cached_property
    def certs(self) -> DevCerts:
        return ensure_dev_certs(self.state_dir / "certs")

    def session(self) -> requests.Session:
        """requests trusting this server's dev CA only (REQUESTS_CA_BUNDLE would override
        verify=, so the environment is not read)."""
        s = requests.Session()
        s.trust_env = False
        s.verify = str(self.ca)
        return s

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def identity(self) -> dict:
        return json.loads((self.state_dir / "identity.json").read_text())

    def tls(self):
        return tls_context(self.ca)

    def http(self, **kw) -> httpx.Client:
        return httpx.Client(verify=self.tls(), trust_env=False, timeout=kw.pop("timeout", 15), **kw)

    def async_http(self, max_connections: int = 64, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.tls(), trust_env=False, timeout=timeout,
                                 limits=httpx.Limits(max_connections=max_connections,
                                                     max_keepalive_connections=max_connections))



def local_stack(state_dir: Path, **settings: str):
    """The local stack built in this process (server/stack.py) from these settings, not
    served: its Flask app answers through `flask_app.test_client()` or httpx.WSGITransport."""
    from server.config import local_setup
    from server.settings import Settings
    from server.stack import build_stack

    return build_stack(local_setup(Settings(state_dir=state_dir, **settings)))  # type: ignore[arg-type]
