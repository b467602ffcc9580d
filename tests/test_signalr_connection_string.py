"""AzureSignalRConnectionString as Azure defines it (the forms of its docs, parsed the way
its SDK's ConnectionStringParser does), and the URLs and token audiences derived from it."""
import jwt
import pytest

from server.azure_signalr import ConnectionString, ConnectionStringError, client_audience
from server.settings import ConfigError

KEY = "A" * 43 + "="


@pytest.mark.parametrize("text, expected", [
    (f"Endpoint=https://cif.service.signalr.net;AccessKey={KEY};Version=1.0;",
     dict(endpoint="https://cif.service.signalr.net", access_key=KEY, auth_type=None)),
    ("Endpoint=https://cif.service.signalr.net;AuthType=azure.msi;Version=1.0;",
     dict(auth_type="azure.msi", client_id=None, access_key=None)),
    ("Endpoint=https://cif.service.signalr.net;AuthType=azure.msi;ClientId=uami-1;Version=1.0;",
     dict(auth_type="azure.msi", client_id="uami-1")),
    ("Endpoint=https://cif.service.signalr.net;AuthType=azure.app;ClientId=app-1;ClientSecret=s=cr=t;TenantId=t-1;"
     "Version=1.0;", dict(auth_type="azure.app", client_id="app-1", tenant_id="t-1", client_secret="s=cr=t")),
    ("Endpoint=https://cif.service.signalr.net;AuthType=azure", dict(auth_type="azure")),
    # keys are case-insensitive; AuthType's value too
    ("ENDPOINT=https://cif.service.signalr.net/;authtype=Azure.MSI;clientid=uami-2", dict(
        endpoint="https://cif.service.signalr.net", auth_type="azure.msi", client_id="uami-2")),
    # the legacy AuthType=aad: a managed identity, or an app when TenantId is given
    ("Endpoint=https://cif.service.signalr.net;AuthType=aad;ClientId=x", dict(auth_type="azure.msi", client_id="x")),
    ("Endpoint=https://cif.service.signalr.net;AuthType=aad;ClientId=x;TenantId=t;ClientSecret=s",
     dict(auth_type="azure.app")),
    # an AuthType Azure doesn't know falls back to the AccessKey, as Azure's parser does
    (f"Endpoint=https://cif.service.signalr.net;AuthType=future;AccessKey={KEY}", dict(access_key=KEY)),
    # Port replaces the endpoint's port; ClientEndpoint / ServerEndpoint are kept
    (f"Endpoint=https://cif.service.signalr.net;Port=8443;AccessKey={KEY}",
     dict(endpoint="https://cif.service.signalr.net:8443")),
    (f"Endpoint=https://cif.service.signalr.net;AccessKey={KEY};ClientEndpoint=https://gw.contoso.com/",
     dict(client_endpoint="https://gw.contoso.com")),
    (f"Endpoint=https://cif.service.signalr.net;AccessKey={KEY};ServerEndpoint=https://internal.contoso.com",
     dict(server_endpoint="https://internal.contoso.com")),
    # unknown keys and parts without '=' are ignored
    (f"Endpoint=https://cif.service.signalr.net;AccessKey={KEY};Foo=bar;garbage;;", dict(access_key=KEY)),
])
def test_parses_the_forms_azure_defines(text, expected):
    parsed = ConnectionString.parse(text)
    for key, value in expected.items():
        assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("text, says", [
    ("", "lacks Endpoint"),
    ("AccessKey=abc;Version=1.0", "lacks Endpoint"),
    ("Endpoint=https://cif.service.signalr.net", "lacks Endpoint"),  # one part only, as Azure's parser says
    ("Endpoint=cif.service.signalr.net;AccessKey=k", "Endpoint must be an absolute http\\(s\\) URL"),
    ("Endpoint=https://cif.service.signalr.net;Version=1.0", "lacks AccessKey"),
    ("Endpoint=https://x;AccessKey=k;accesskey=j", "appears twice"),
    ("Endpoint=https://x;AccessKey=k;Version=2.0", "Version '2.0' is not supported"),
    ("Endpoint=https://x;AccessKey=k;Port=0", "Port must be"),
    ("Endpoint=https://x;AccessKey=k;Port=http", "Port must be"),
    ("Endpoint=https://x;AccessKey=k;ClientEndpoint=gateway", "ClientEndpoint must be"),
    ("Endpoint=https://x;AuthType=azure.app;ClientId=a;ClientSecret=s", "needs TenantId"),
    ("Endpoint=https://x;AuthType=azure.app;TenantId=t;ClientSecret=s", "needs ClientId"),
    ("Endpoint=https://x;AuthType=azure.app;ClientId=a;TenantId=t", "needs ClientSecret"),
    ("Endpoint=https://x;AuthType=azure.app;ClientId=a;TenantId=t;ClientCert=/c.pem", "ClientCert is not supported"),
])
def test_a_malformed_string_is_a_configuration_error_naming_the_setting(text, says):
    with pytest.raises(ConnectionStringError, match=says) as err:
        ConnectionString.parse(text)
    assert isinstance(err.value, ConfigError) and str(err.value).startswith("AzureSignalRConnectionString")


def test_urls_and_audiences():
    cs = ConnectionString.parse(f"Endpoint=https://cif.service.signalr.net;AccessKey={KEY};Port=8443;"
                                "ClientEndpoint=https://gw.contoso.com;ServerEndpoint=https://internal.contoso.com")
    # clients go through ClientEndpoint; the token's audience stays the service's host, no port
    assert cs.client_url("MyHub") == "https://gw.contoso.com/client/?hub=myhub"
    claims = jwt.decode(cs.client_token("MyHub", "u1"), KEY, algorithms=["HS256"],
                        audience="https://cif.service.signalr.net/client/?hub=myhub")
    assert claims["asrs.s.uid"] == "u1" and claims["exp"] - claims["iat"] == 3600
    assert cs.rest_url("myhub", "users", "a b") == "https://internal.contoso.com/api/v1/hubs/myhub/users/a%20b"
    assert cs.generate_token_url("myhub") == "https://internal.contoso.com/api/hubs/myhub/:generateToken"
    plain = ConnectionString.parse(f"Endpoint=https://cif.service.signalr.net;Port=8443;AccessKey={KEY}")
    assert plain.client_url("myhub") == "https://cif.service.signalr.net:8443/client/?hub=myhub"
    assert plain.rest_url("myhub") == "https://cif.service.signalr.net:8443/api/v1/hubs/myhub"
    assert client_audience("https://[::1]:7071", "H") == "https://[::1]/client/?hub=h"


def test_identity_based_strings_sign_nothing_themselves():
    cs = ConnectionString.parse("Endpoint=https://cif.service.signalr.net;AuthType=azure.msi")
    assert cs.identity_based
    with pytest.raises(ValueError):
        cs.client_token("myhub", "u1")
