"""The functions' Azure SignalR REST client signs its HS256 access token once per URL and
reuses it while it is good for more than a minute (signing per call was a tenth of a
notification's CPU, `python -m bench cpu`); the service sees the same claims as before:
`aud` = the URL called, `exp` at most five minutes on."""
import httpx
import jwt

from server.azure_signalr import ConnectionString
from server.functions.signalr_rest import REST_TOKEN_LIFETIME, REST_TOKEN_RENEW, SignalRRest

KEY = "k" * 44
CONNECTION = ConnectionString.parse(f"Endpoint=https://signalr.invalid;AccessKey={KEY};Version=1.0;")


def client(seen: list[str], now: list[float]) -> SignalRRest:
    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"].removeprefix("Bearer "))
        return httpx.Response(200 if request.method == "HEAD" else 202)

    return SignalRRest(CONNECTION, httpx.Client(transport=httpx.MockTransport(service)), clock=lambda: now[0])


def claims(token: str, url: str) -> dict:
    return jwt.decode(token, KEY, algorithms=["HS256"], audience=url, options={"verify_exp": False})


def test_one_token_per_url_while_it_has_more_than_a_minute_left():
    seen: list[str] = []
    now = [1_000_000.0]
    rest = client(seen, now)
    alice = CONNECTION.rest_url("myhub", "users", "alice")
    rest.user_exists("myhub", "alice")
    rest.send_to_user("myhub", "alice", "ReceiveNotification", [{}])
    assert seen[0] == seen[1]  # HEAD and POST of the same URL: one signature
    first = claims(seen[0], alice)
    assert first["exp"] - first["iat"] == REST_TOKEN_LIFETIME and first["iat"] == int(now[0])

    rest.user_exists("myhub", "bob")  # another URL: its own audience
    assert claims(seen[2], CONNECTION.rest_url("myhub", "users", "bob"))["aud"] != first["aud"]

    now[0] += REST_TOKEN_LIFETIME - REST_TOKEN_RENEW - 1  # still more than a minute left
    rest.user_exists("myhub", "alice")
    assert seen[3] == seen[0]
    now[0] += 2  # a minute or less left: a new one
    rest.user_exists("myhub", "alice")
    assert seen[4] != seen[0] and claims(seen[4], alice)["iat"] == int(now[0])
