"""Unit tests for adaptor_core.negotiate: the negotiate exchange driven with literal HTTP
answers (status, body text), as the official JS client reads them."""
from __future__ import annotations

import json

import pytest

from adaptor_core.negotiate import (
    MAX_REDIRECTS,
    Negotiated,
    NegotiateError,
    NegotiateRequest,
    Negotiation,
    negotiate_url,
)

FUNCTIONS = "https://fn.example/api"
SERVICE = "https://svc.example/client/?hub=myhub"
WS = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]


def body(**fields) -> str:
    return json.dumps(fields)


def test_the_first_request_goes_to_the_functions_with_the_agent_token():
    assert Negotiation(FUNCTIONS, "agent").request == NegotiateRequest(
        "https://fn.example/api/negotiate?negotiateVersion=1", "agent")


def test_redirect_then_version_1_answer():
    n = Negotiation(FUNCTIONS, "agent")
    assert n.answer(200, body(url=SERVICE, accessToken="client")) == NegotiateRequest(
        "https://svc.example/client/negotiate?hub=myhub&negotiateVersion=1", "client")
    assert n.answer(200, body(negotiateVersion=1, connectionId="c1", connectionToken="t1",
                              availableTransports=WS)) == Negotiated(SERVICE, "c1", "t1", "client")


@pytest.mark.parametrize("fields", [
    {"connectionId": "c1", "availableTransports": WS},                       # version 0: no negotiateVersion
    {"negotiateVersion": 0, "connectionId": "c1", "availableTransports": WS},
    {"negotiateVersion": 0, "connectionId": "c1", "connectionToken": "ignored", "availableTransports": WS},
])
def test_version_0_answer_connects_with_the_connection_id(fields):
    n = Negotiation(SERVICE, "client")
    assert n.answer(200, json.dumps(fields)) == Negotiated(SERVICE, "c1", "c1", "client")


def test_a_later_version_answer_with_a_token_is_read_as_version_1():
    n = Negotiation(SERVICE, "t")
    assert n.answer(200, body(negotiateVersion=2, connectionId="c", connectionToken="k",
                              availableTransports=WS, extra={"x": 1})) == Negotiated(SERVICE, "c", "k", "t")


def test_a_redirect_without_an_access_token_keeps_the_current_one():
    n = Negotiation(FUNCTIONS, "agent")
    assert n.answer(200, body(url=SERVICE)).access_token == "agent"


def test_chained_redirects_are_followed():
    n = Negotiation(FUNCTIONS, "a")
    n.answer(200, body(url="https://one.example/x", accessToken="b"))
    assert n.answer(200, body(url=SERVICE, accessToken="c")).url.startswith("https://svc.example/client/negotiate")
    assert n.answer(200, body(connectionId="c1", availableTransports=WS)).access_token == "c"


def test_ninety_nine_redirects_are_followed_the_hundredth_is_refused():
    n = Negotiation(FUNCTIONS, "a")
    for i in range(MAX_REDIRECTS - 1):
        assert isinstance(n.answer(200, body(url=f"https://hop{i}.example/")), NegotiateRequest)
    assert n.answer(200, body(connectionId="c", availableTransports=WS)).url == "https://hop98.example/"
    n = Negotiation(FUNCTIONS, "a")
    with pytest.raises(NegotiateError, match="redirection limit exceeded"):
        for i in range(MAX_REDIRECTS):
            n.answer(200, body(url=f"https://hop{i}.example/"))
    assert n.redirects == MAX_REDIRECTS


@pytest.mark.parametrize("status, text, message", [
    (401, '{"error":"unauthorized","message":"A valid token is required."}',
     "negotiate answered 401: A valid token is required."),
    (503, '{"error":"signalr_unavailable"}', "negotiate answered 503: signalr_unavailable"),
    (502, "<html>bad gateway</html>", "negotiate answered 502"),
    (500, '{"message":5,"error":""}', "negotiate answered 500"),
    (200, "<html>", "not a JSON object"),
    (200, "[1]", "not a JSON object"),
    (200, "[" * 100_000, "not a JSON object"),
    (200, '{"error":"This connection is not allowed."}', "negotiate refused: This connection is not allowed."),
    (200, '{"ProtocolVersion":"1.5","ConnectionId":"x"}', "ASP.NET SignalR, not ASP.NET Core"),
    (200, '{"negotiateVersion":1,"availableTransports":[]}', "no connectionId"),
    (200, '{"negotiateVersion":1,"connectionId":""}', "no connectionId"),
    (200, '{"negotiateVersion":1,"connectionId":"c","availableTransports":[]}', "needs a connectionToken"),
    (200, '{"connectionId":"c"}', "no WebSockets transport"),
    (200, '{"connectionId":"c","availableTransports":[{"transport":"LongPolling","transferFormats":["Text"]}]}',
     "no WebSockets transport"),
    (200, '{"connectionId":"c","availableTransports":[{"transport":"WebSockets","transferFormats":["Binary"]}]}',
     "no WebSockets transport"),
    (200, '{"connectionId":"c","availableTransports":[{"transport":"WebSockets"}]}', "no WebSockets transport"),
    (200, '{"connectionId":"c","useStatefulReconnect":true}', "stateful reconnect"),
    (200, '{"url":"/relative"}', "not an absolute http(s) URL"),
    (200, '{"url":"ftp://x/"}', "not an absolute http(s) URL"),
    (200, '{"url":5}', "not an absolute http(s) URL"),
    (200, '{"url":"https://x/","accessToken":5}', "'accessToken' is not a string"),
])
def test_answers_that_cannot_be_followed_say_why(status, text, message):
    with pytest.raises(NegotiateError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        Negotiation(FUNCTIONS, "a").answer(status, text)


@pytest.mark.parametrize("url, expected", [
    ("https://svc/client/?hub=h", "https://svc/client/negotiate?hub=h&negotiateVersion=1"),
    ("https://svc/client?hub=h", "https://svc/client/negotiate?hub=h&negotiateVersion=1"),
    ("https://svc/client/?hub=h&asrs.op=%2Fclient", "https://svc/client/negotiate?hub=h&asrs.op=%2Fclient&negotiateVersion=1"),
    ("https://svc/client/", "https://svc/client/negotiate?negotiateVersion=1"),
    ("https://svc", "https://svc/negotiate?negotiateVersion=1"),
    ("https://svc/client/?hub=h&negotiateVersion=0", "https://svc/client/negotiate?hub=h&negotiateVersion=0"),
    ("https://svc/a/?x=1#frag", "https://svc/a/negotiate?x=1&negotiateVersion=1"),
])
def test_negotiate_url(url, expected):
    assert negotiate_url(url) == expected
