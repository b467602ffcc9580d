"""Unit tests for adaptor_core.config: URL query → config.json → Dynamics environment
variables extn_<Key>, first hit wins; the error names the missing key; https checks."""
from __future__ import annotations

import re

import pytest

from adaptor_core.config import OPTIONAL, REQUIRED, ConfigMissing, WidgetConfig, resolve_config

FULL = {
    "AdaptorFunctionUrl": "https://functions.example/",
    "ClientId": "11111111-2222-3333-4444-555555555555",
    "Authority": "https://login.example/tenant",
    "Scope": "api://adaptor/user_impersonation",
}


def env_of(values: dict[str, str]):
    """A Dynamics environment reader over `extn_<Key>` names that records what it was asked."""
    asked: list[str] = []

    def read(name: str) -> str | None:
        asked.append(name)
        return values.get(name)

    read.asked = asked  # type: ignore[attr-defined]
    return read


def missing(key: str, detail: str = "is not set"):
    text = f"Configuration {key!r} {detail} (URL parameter, config.json or extn_{key})."
    return pytest.raises(ConfigMissing, match=f"^{re.escape(text)}$")


def test_keys():
    assert REQUIRED == ("AdaptorFunctionUrl", "ClientId", "Authority", "Scope")
    assert OPTIONAL == {"NotificationTemplate": "cifad_voice_notification",
                        "SessionTemplate": "cifad_voice_identified_session",
                        "DefaultSessionTemplate": "cifad_voice_unknown_session", "CallLogging": "on",
                        "CallerTables": "contact"}


def test_caller_tables_from_any_source_and_checked():
    assert resolve_config(FULL, None).caller_tables == ("contact",)
    assert resolve_config(FULL, {"CallerTables": "contact,account"}).caller_tables == ("contact", "account")
    with missing("CallerTables", "names no table the widget can search: lead (contact, account)"):
        resolve_config({**FULL, "CallerTables": "lead"}, None)


def test_everything_from_the_query_with_default_templates():
    assert resolve_config(FULL, None) == WidgetConfig(
        "https://functions.example/", "11111111-2222-3333-4444-555555555555", "https://login.example/tenant",
        "api://adaptor/user_impersonation", "cifad_voice_notification", "cifad_voice_identified_session",
        "cifad_voice_unknown_session")


def test_everything_from_config_json():
    assert resolve_config({}, dict(FULL)) == resolve_config(FULL, None)


def test_everything_from_environment_variables():
    env = env_of({f"extn_{k}": v for k, v in FULL.items()} | {"extn_SessionTemplate": "env_session"})
    config = resolve_config({}, None, env)
    assert config == WidgetConfig(**FULL, SessionTemplate="env_session")
    assert set(env.asked) == {f"extn_{k}" for k in (*REQUIRED, *OPTIONAL)}


def test_query_beats_file_beats_environment():
    query = {"ClientId": "from-query"}
    file = {"ClientId": "from-file", "Scope": "scope-from-file", "AdaptorFunctionUrl": "https://file.example"}
    env = env_of({"extn_ClientId": "from-env", "extn_Scope": "scope-from-env",
                  "extn_AdaptorFunctionUrl": "https://env.example", "extn_Authority": "https://env-login.example"})
    config = resolve_config(query, file, env)
    assert (config.ClientId, config.Scope, config.AdaptorFunctionUrl, config.Authority) == \
        ("from-query", "scope-from-file", "https://file.example", "https://env-login.example")


def test_optional_templates_from_each_source():
    config = resolve_config(FULL | {"NotificationTemplate": "q_note"}, {"SessionTemplate": "f_session"},
                            env_of({"extn_DefaultSessionTemplate": "e_default", "extn_SessionTemplate": "e_session"}))
    assert (config.NotificationTemplate, config.SessionTemplate, config.DefaultSessionTemplate) == \
        ("q_note", "f_session", "e_default")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_values_fall_through_to_the_next_source(blank):
    config = resolve_config(FULL | {"ClientId": blank}, {"ClientId": blank}, env_of({"extn_ClientId": "env-client"}))
    assert config.ClientId == "env-client"


@pytest.mark.parametrize("value", [42, True, None, ["x"], {"a": 1}])
def test_non_text_file_values_fall_through(value):
    config = resolve_config({k: v for k, v in FULL.items() if k != "Scope"}, {"Scope": value},
                            env_of({"extn_Scope": "env-scope"}))
    assert config.Scope == "env-scope"


def test_values_are_stripped():
    config = resolve_config({k: f"  {v}\n" for k, v in FULL.items()} | {"NotificationTemplate": " t "}, None)
    assert config.ClientId == FULL["ClientId"]
    assert config.AdaptorFunctionUrl == "https://functions.example/"
    assert config.NotificationTemplate == "t"


def test_blank_optional_keeps_the_default():
    assert resolve_config(FULL | {"SessionTemplate": " "}, None).SessionTemplate == "cifad_voice_identified_session"


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_key_is_named(key):
    query = {k: v for k, v in FULL.items() if k != key}
    with missing(key) as info:
        resolve_config(query, {}, env_of({}))
    assert info.value.key == key


def test_missing_key_error_text():
    with pytest.raises(ConfigMissing) as info:
        resolve_config({}, None)
    assert str(info.value) == "Configuration 'AdaptorFunctionUrl' is not set (URL parameter, config.json or " \
                              "extn_AdaptorFunctionUrl)."
    assert isinstance(info.value, ValueError)


def test_first_missing_key_in_order_is_reported():
    with missing("ClientId"):
        resolve_config({"AdaptorFunctionUrl": FULL["AdaptorFunctionUrl"]}, None)


def test_missing_keys_are_reported_before_https_problems():
    with missing("Scope"):
        resolve_config({k: v for k, v in FULL.items() if k != "Scope"} | {"Authority": "http://login.example"}, None)


@pytest.mark.parametrize("key", ["AdaptorFunctionUrl", "Authority"])
@pytest.mark.parametrize("url", ["http://example.com", "example.com", "ftp://example.com", "//example.com",
                                 "wss://example.com", "javascript:alert(1)"])
def test_urls_must_be_https(key, url):
    with missing(key, "must be an https:// URL") as info:
        resolve_config(FULL | {key: url}, None)
    assert info.value.key == key


def test_function_url_is_checked_before_authority():
    with missing("AdaptorFunctionUrl", "must be an https:// URL"):
        resolve_config(FULL | {"AdaptorFunctionUrl": "http://a", "Authority": "http://b"}, None)


def test_https_scheme_is_case_insensitive():
    config = resolve_config(FULL | {"Authority": "HTTPS://login.example/t"}, None)
    assert config.Authority == "HTTPS://login.example/t"


def test_scope_and_client_id_are_not_urls():
    config = resolve_config(FULL | {"Scope": "api://x/.default", "ClientId": "plain"}, None)
    assert (config.Scope, config.ClientId) == ("api://x/.default", "plain")


def test_https_check_applies_to_the_winning_source():
    with missing("Authority", "must be an https:// URL"):
        resolve_config({k: v for k, v in FULL.items() if k != "Authority"}, None,
                       env_of({"extn_Authority": "http://login.example"}))


def test_environment_is_asked_by_extn_name():
    env = env_of({})
    with missing("AdaptorFunctionUrl"):
        resolve_config({}, None, env)
    assert env.asked == ["extn_AdaptorFunctionUrl"]


def test_no_environment_reader_is_fine():
    assert resolve_config(FULL, None, None).ClientId == FULL["ClientId"]


@pytest.mark.parametrize("url, functions", [
    ("https://f.example/", "https://f.example"),
    ("https://f.example//", "https://f.example"),
    ("https://f.example/api/x", "https://f.example/api/x"),
])
def test_functions_base_has_no_trailing_slash(url, functions):
    assert resolve_config(FULL | {"AdaptorFunctionUrl": url}, None).functions == functions


def test_config_is_immutable():
    config = resolve_config(FULL, None)
    with pytest.raises(AttributeError):
        config.ClientId = "x"  # type: ignore[misc]


@pytest.mark.parametrize("configured", [
    "https://cif-adaptor.azurewebsites.net", "https://cif-adaptor.azurewebsites.net/",
    "https://cif-adaptor.azurewebsites.net/api", "https://cif-adaptor.azurewebsites.net/api/",
    "https://cif-adaptor.azurewebsites.net/API", " https://cif-adaptor.azurewebsites.net/api/ ",
])
def test_adaptor_function_url_with_or_without_api_prefix(configured):
    """The sample's solution sets AdaptorFunctionUrl to `…/api`; a bare app URL works too."""
    from adaptor_core.config import function_url, functions_base

    assert functions_base(configured) == "https://cif-adaptor.azurewebsites.net"
    assert function_url(configured, "negotiate") == "https://cif-adaptor.azurewebsites.net/api/negotiate"
    config = resolve_config({**FULL, "AdaptorFunctionUrl": configured}, None)
    assert config.function_url("userclient") == "https://cif-adaptor.azurewebsites.net/api/userclient"


def test_a_path_before_api_is_kept():
    from adaptor_core.config import function_url

    assert function_url("https://gw.contoso.com/cif/api/", "negotiate") == "https://gw.contoso.com/cif/api/negotiate"
    assert function_url("https://gw.contoso.com/apis", "negotiate") == "https://gw.contoso.com/apis/api/negotiate"


def test_adaptor_function_url_with_a_query_is_refused():
    with missing("AdaptorFunctionUrl", "must be an https:// URL without ?query or #fragment"):
        resolve_config({**FULL, "AdaptorFunctionUrl": "https://x.azurewebsites.net/api?code=k"}, None)


@pytest.mark.parametrize("value,on", [("on", True), ("OFF", False), ("false", False), ("1", True), ("no", False)])
def test_call_logging_is_a_switch_on_by_default(value, on):
    assert resolve_config(FULL, None).call_logging is True
    assert resolve_config({**FULL, "CallLogging": value}, None).call_logging is on
    assert resolve_config(FULL, None, env_of({"extn_CallLogging": value})).call_logging is on


def test_call_logging_other_values_are_refused():
    with missing("CallLogging", "must be on or off"):
        resolve_config({**FULL, "CallLogging": "sometimes"}, None)
