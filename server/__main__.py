"""`python -m server` — start the local stack over HTTPS (Ctrl-C stops it)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import socket
import sys

import uvicorn

from .config import local_setup
from .devcerts import ensure_dev_certs
from .front_end import BoundedHttpToolsProtocol
from .local_only import is_loopback_host
from .settings import ConfigError, Settings
from .signalr_service.service import MAX_FRAME
from .stack import build_stack

DEFAULT_PORT = 7071  # the Azure Functions host's port
WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def raise_open_file_limit() -> int:
    """Each WebSocket is a file descriptor; 1,024 would cap us near 1,000 agents."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bind(host: str, port: int) -> list[socket.socket]:
    """Listen on host; for the default loopback also on ::1 so `localhost` works
    whichever address the browser tries first."""
    addrs = [host] + (["::1"] if host == "127.0.0.1" and socket.has_ipv6 else [])
    sockets: list[socket.socket] = []
    for addr in addrs:
        if sockets:
            port = sockets[0].getsockname()[1]  # --port 0: ::1 takes the port 127.0.0.1 got
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then;
        # without it a response written in two pieces waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((addr, port))
        except OSError as exc:
            sock.close()
            if addr == host:
                raise SystemExit(f"cannot listen on {addr}:{port}: {exc.strerror}") from None
            continue  # ::1 is a convenience, not a requirement
        sock.listen(2048)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


def exposure(host: str, real_azure: tuple[str, ...]) -> str:
    """What a non-loopback --host puts on the network, for the start-up banner."""
    local = (f"off ({', '.join(real_azure)} set)" if real_azure
             else "on, answering this machine only (loopback peers)")
    return (f"  EXPOSED     listening on {host} (--expose-to-network): other machines reach the functions (/api/*, "
            f"bearer tokens), the SignalR emulator (/client/, /api/v1/hubs/*, its own tokens), the widget "
            f"(/widget/), the CIF host page (/) and /healthz\n"
            f"              dev console and local identity provider: {local}\n"
            f"              the certificate names localhost, 127.0.0.1 and ::1 only\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, plus ::1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--expose-to-network", action="store_true",
                        help="allow a --host other than loopback: the functions, the SignalR emulator, the widget "
                             "and the CIF host become reachable from other machines (README, Security)")
    args = parser.parse_args(argv)
    if not is_loopback_host(args.host) and not args.expose_to_network:
        print(f"--host {args.host} is not a loopback address: the stack would be reachable from other machines. "
              "Add --expose-to-network to mean it (README, Security).", file=sys.stderr)
        return 2

    try:
        return serve(args)
    except ConfigError as exc:  # a bad setting: its name and what is wrong, no traceback
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per outbound call is noise
    settings = Settings.from_environment()
    certs = ensure_dev_certs(settings.certs_dir)
    sockets = bind(args.host, args.port)
    port = sockets[0].getsockname()[1]
    # A wildcard bind includes loopback: the stack reaches itself (and is shown) there.
    url_host = WILDCARD_TO_LOOPBACK.get(args.host, args.host)
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    settings = settings.with_public_url(f"https://{url_host}:{port}")
    fd_limit = raise_open_file_limit()

    # Requests hop between the event loop and the WSGI threads; the default 5 ms GIL switch
    # interval would add up to 5 ms at every hop.
    sys.setswitchinterval(0.0005)
    stack = build_stack(local_setup(settings))
    config = uvicorn.Config(
        stack.asgi_app, ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key),
        log_level=args.log_level, access_log=args.log_level == "debug",
        ws_ping_interval=None,  # SignalR keeps its own 15 s pings (docs/signalr-protocol.md)
        ws_max_size=MAX_FRAME,
        http=BoundedHttpToolsProtocol,  # request heads bounded as Azure's front ends bound them (431/414)
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    print(
        f"\nCIF adaptor local stack on {settings.public_url}  (open files limit {fd_limit})\n"
        f"  widget      {stack.config.widget_origin}/widget/\n"
        f"  health      {settings.public_url}/healthz\n"
        f"  dev CA      {certs.ca}  (trust it in your browser, or accept the warning once)\n"
        + (exposure(args.host, stack.config.real_azure) if not is_loopback_host(args.host) else "")
        + "Press Ctrl-C to stop.\n",
        flush=True,
    )
    asyncio.run(server.serve(sockets=sockets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
