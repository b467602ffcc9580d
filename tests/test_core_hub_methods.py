"""The hub vocabulary the core owns: the seed's target names, the notification loader
(the message object, or its JSON text as the seed sent it) and handlers by target, as
the widget and the simulated agents register them."""
from __future__ import annotations

import pytest

from adaptor_core import errors
from adaptor_core.config import ConfigMissing
from adaptor_core.hub_methods import RECEIVE_NOTIFICATION, SEND_MESSAGE, Handlers, message_object
from adaptor_core.hub_protocol import ProtocolError
from adaptor_core.negotiate import NegotiateError
from adaptor_core.notifications import NotificationError


def test_target_names_are_the_seeds():
    assert (RECEIVE_NOTIFICATION, SEND_MESSAGE) == ("ReceiveNotification", "sendMessage")


@pytest.mark.parametrize("value", [{"PhoneNumber": "+1"}, '{"PhoneNumber": "+1"}'])
def test_message_object_takes_the_object_or_its_json_text(value):
    assert message_object(value) == {"PhoneNumber": "+1"}


@pytest.mark.parametrize("value,text", [
    ("PhoneNumber=+1", "the notification is text but not JSON"),
    ("[" * 100_000 + "]" * 100_000, "the notification is text but not JSON"),  # nested past the parser's depth
    ("[1]", "the notification must be an object"),
    (None, "the notification must be an object"),
])
def test_message_object_refuses_what_is_not_a_message(value, text):
    with pytest.raises(NotificationError) as err:
        message_object(value)
    assert str(err.value) == text and err.value.code == "bad_notification"


def test_message_object_names_the_field_it_was_asked_about():
    with pytest.raises(NotificationError, match="^'message' must be an object$"):
        message_object(7, "'message'")


def test_handlers_by_target_in_registration_order():
    seen: list = []
    handlers = Handlers()
    assert handlers.get(RECEIVE_NOTIFICATION) == []
    handlers.on(RECEIVE_NOTIFICATION, lambda args: seen.append(("first", args)))
    handlers.on(RECEIVE_NOTIFICATION, lambda args: seen.append(("second", args)))
    handlers.on("other", lambda args: seen.append(("other", args)))
    for fn in handlers.get(RECEIVE_NOTIFICATION):
        fn([1])
    assert seen == [("first", [1]), ("second", [1])]


@pytest.mark.parametrize("error,code", [(NotificationError("x"), "bad_notification"),
                                        (ConfigMissing("ClientId"), "config_missing"),
                                        (ProtocolError("x"), "protocol_error"),
                                        (NegotiateError("x"), "negotiate_failed"),
                                        (errors.AdaptorError("x"), "adaptor_error")])
def test_one_error_base_with_a_code(error, code):
    assert isinstance(error, errors.AdaptorError) and isinstance(error, ValueError) and error.code == code
