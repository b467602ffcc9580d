"""Simulated agents under CPython: the widget's core (adaptor_core) over real
WebSockets (`websockets`) and HTTP (`httpx`) — for tests, load and fault runs."""
