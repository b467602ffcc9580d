"""Settings: the sample's key names from local.settings.json and the environment."""
import json

import pytest

from server.settings import ConfigError, Settings


def test_defaults_match_the_sample(tmp_path, monkeypatch):
    monkeypatch.delenv("HubName", raising=False)
    s = Settings.from_environment(tmp_path / "absent.json")
    assert s.HubName == "myhub"
    assert s.StorageUserTable == "ConnectionEntity"
    assert s.AzureWebJobsStorage is None


def test_file_values_and_colon_keys_environment_wins(tmp_path, monkeypatch):
    f = tmp_path / "local.settings.json"
    f.write_text(json.dumps({"Values": {"HubName": "fromfile", "AzureAd:ClientId": "abc", "ApiScope": "s"}}))
    monkeypatch.setenv("HubName", "fromenv")
    s = Settings.from_environment(f)
    assert s.HubName == "fromenv"
    assert s.AzureAd__ClientId == "abc"
    assert s.ApiScope == "s"


def test_broken_settings_file_names_the_file(tmp_path):
    f = tmp_path / "local.settings.json"
    f.write_text("{not json")
    with pytest.raises(ConfigError, match="local.settings.json"):
        Settings.from_environment(f)
