"""Load benchmarks and fault runs against a real local stack.

    .venv/bin/python -m bench widget    [--quick]   # start, memory, POST → notifyEvent (Chromium)
    .venv/bin/python -m bench cpu       [--quick]   # the functions' CPU per notification, in process, with its profile
    .venv/bin/python -m bench latency   [--quick]   # the server's part, and the rates it holds
    .venv/bin/python -m bench capacity  [--quick] [--hold S] [--final-hold S] [--steps 100,1000,2000,5000]
    .venv/bin/python -m bench faults    [--quick]
    .venv/bin/python -m bench fuzz      [--quick] [--examples N]
    .venv/bin/python -m bench all       [--quick]
    .venv/bin/python -m bench.report    [--replot]   # docs/benchmarks.md from bench/results/*.json

Each run starts its own `python -m server --port 0` in a temporary state dir (with
ADAPTOR_IDP_LOAD_USERS load users) and talks to it over loopback only, through its
public protocols (HTTPS, WebSocket), as the widget and the telephony CLI do. Results go
to bench/results/<name>.json, plots to docs/benchmarks/<name>*.png; report.py holds
everything about writing them down.
"""

