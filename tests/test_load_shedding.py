"""Load shedding (server/functions/admission.py): past MaxNotificationsPerSecond,
SendMessageToUser answers 429 with Retry-After and names the setting; nothing of a refused
call is stored or sent. Functional only — the rates the stack sustains are
`python -m bench latency`'s (the overload run), never a timed test."""
import asyncio
import json

import pytest

from server.config import max_notifications_per_second
from server.errors import ConfigError
from server.functions.admission import DEFAULT_PER_SECOND, SETTING, RateLimit
from server.functions.handlers import openapi_document
from server.settings import Settings
from tests.conftest import Api, Identity, call_payload, new_agent, run_async, start_stack, stop_stack
from tests.test_functions_flow import next_notification


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_admits_the_rate_and_a_quarter_second_burst_then_says_how_long_to_wait():
    clock = Clock()
    limit = RateLimit(8, clock)  # 8/s: a burst of 2
    assert [limit.admit() for _ in range(2)] == [0.0, 0.0]
    assert limit.admit() == pytest.approx(1 / 8)
    clock.now += 1 / 8
    assert limit.admit() == 0.0 and limit.admit() > 0
    clock.now += 60  # idle for a minute: still only the burst, not a minute's worth
    assert [limit.admit() for _ in range(3)][-1] > 0
    slow = RateLimit(0.5, clock)  # below one a second: a burst of one
    assert slow.admit() == 0.0 and slow.admit() == pytest.approx(2.0)


@pytest.mark.parametrize("raw, expected", [(None, DEFAULT_PER_SECOND), ("40", 40.0), ("0.5", 0.5), ("0", None)])
def test_setting_default_value_and_off(monkeypatch, tmp_path, raw, expected):
    monkeypatch.delenv(SETTING, raising=False)
    extra = {} if raw is None else {SETTING: raw}
    assert max_notifications_per_second(Settings(state_dir=tmp_path, extra=extra)) == expected


@pytest.mark.parametrize("raw", ["-1", "fast", "inf", "nan"])
def test_bad_setting_is_a_configuration_error_naming_it(monkeypatch, tmp_path, raw):
    monkeypatch.delenv(SETTING, raising=False)
    with pytest.raises(ConfigError, match=SETTING):
        max_notifications_per_second(Settings(state_dir=tmp_path, extra={SETTING: raw}))


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    """A stack that takes one notification a minute: the second POST is always over it."""
    s = start_stack(tmp_path_factory.mktemp("shedding"), env={SETTING: str(1 / 60)})
    yield s
    stop_stack(s)


def test_past_the_limit_send_message_to_user_answers_429_with_retry_after_and_stores_nothing(slow_stack):
    ident = Identity(slow_stack, json.loads((slow_stack.state_dir / "identity.json").read_text()))
    sender = Api(slow_stack, ident.sender_token())
    oid = ident.oid("alice")

    async def scenario():
        agent = new_agent(slow_stack, ident.agent_result("alice")["access_token"])
        await agent.start()
        try:
            await agent.wait_registered()
            first = await asyncio.to_thread(sender.call, "POST", "/api/SendMessageToUser",
                                            {"userId": oid, "messageId": "shed-1", "message": call_payload()})
            assert first.status_code == 202, first.text
            await next_notification(agent, "shed-1")
            second = await asyncio.to_thread(sender.call, "POST", "/api/SendMessageToUser",
                                             {"userId": oid, "messageId": "shed-2", "message": call_payload()})
            return first, second
        finally:
            await agent.stop()

    _, refused = run_async(scenario())
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_requests" and SETTING in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert sender.call("GET", "/api/messages/shed-2").status_code == 404  # nothing stored
    # the limit counts authenticated senders only: no token is still a 401, not a 429
    assert sender.call("POST", "/api/SendMessageToUser", {"userId": oid, "message": call_payload()},
                       token=None).status_code == 401


def test_the_api_document_tells_integrators_of_the_429_and_its_retry_after():
    documented = openapi_document()["paths"]["/api/SendMessageToUser"]["post"]["responses"]["429"]
    assert "too_many_requests" in documented["description"] and SETTING in documented["description"]
    assert documented["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
