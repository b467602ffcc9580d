"""Experiment, not a fix: `python -m server` with its listening sockets re-wrapped as
proto=IPPROTO_TCP. server/__main__.py bind() creates them as socket(family, SOCK_STREAM)
(proto 0); accepted sockets inherit proto 0, and asyncio only sets TCP_NODELAY when
proto == IPPROTO_TCP — so every HTTP response whose headers and body go out in two
writes waits for the client's delayed ACK (~40 ms). `python -m bench latency
--nodelay-experiment` measures the stack with this one thing changed."""
from __future__ import annotations

import socket
import sys

import server.__main__ as server_main

_bind = server_main.bind


def bind_tcp(host: str, port: int) -> list[socket.socket]:
    rewrapped = []
    for sock in _bind(host, port):
        tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        tcp.set_inheritable(True)
        rewrapped.append(tcp)
    return rewrapped


server_main.bind = bind_tcp

if __name__ == "__main__":
    sys.exit(server_main.main())
