"""The API contract (server/functions/openapi.json, served at /api/openapi.json): it is a
valid OpenAPI 3 document, it names every /api route the app registers, and schemathesis,
run against the live local stack with real tokens, finds no 5xx and no response that
differs from it (status, content type, headers, body schema; also with no or a wrong token,
and with data the document rules out). Examples per operation are bounded: this is a
contract check, not a soak."""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from server.functions.handlers import openapi_document

DOCUMENT = openapi_document()
EXAMPLES = 25  # per operation and generation mode
# Routes under /api that are not the functions' API: the local Dataverse stand-in (it plays Dynamics).
NOT_OURS = ("cifhost.",)


def test_the_document_is_served_and_is_valid_openapi_3(stack):
    served = stack.session().get(stack.url + "/api/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
    assert served.json() == DOCUMENT and DOCUMENT["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(DOCUMENT).validate()  # raises on a document that breaks the OpenAPI schema


def registered_api_routes(app) -> set[tuple[str, str]]:
    """(METHOD, /api/path/{param}) of every /api rule of the Flask app, as OpenAPI spells paths."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith(NOT_OURS):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule.rule)
        found |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def documented_routes() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops}


def test_every_api_route_the_app_registers_is_in_the_document_and_nothing_else(tmp_path):
    from testkit.server import local_stack

    app = local_stack(tmp_path).flask_app
    registered = registered_api_routes(app)
    assert ("GET", "/api/dials/{dialId}") in registered  # the conversion reads path parameters
    assert registered == documented_routes(), (
        f"registered, not documented: {sorted(registered - documented_routes())}; "
        f"documented, not registered: {sorted(documented_routes() - registered)}")


def test_every_operation_names_its_role_and_its_errors():
    for path, ops in DOCUMENT["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] and op["tags"] and op["summary"], (method, path)
            if op["security"]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def bounded_run(operation, mode, base_url: str, session, headers: dict):
    """A hypothesis test of one operation in one generation mode: EXAMPLES calls, each
    checked by schemathesis's default checks."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(base_url=base_url, session=session, headers=headers, timeout=30, verify=session.verify)

    return check


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(stack, tokens):
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    session = stack.session()
    token_for = {"sender": tokens["sender"], "agent": tokens["alice"], "contract": None}
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        token = token_for[operation.definition.raw["tags"][0]]  # each operation with the role it is for
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        raw = operation.definition.raw
        # data the document rules out exists only where it documents parameters or a body
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if "parameters" in raw or "requestBody" in raw else [])
        for mode in modes:
            bounded_run(operation, mode, stack.url, session, headers)()
            ran.append((operation.label, mode.value))
    assert len(ran) >= sum(len(ops) for ops in DOCUMENT["paths"].values()) + 4


# a newline in the path (no route's pattern takes it) is a JSON 404 too: schemathesis found Starlette's text one
@pytest.mark.parametrize("path", ["/api/messages/unknown-id", "/api/dials/unknown-id", "/api/dials/%0Ax"])
def test_an_unknown_id_is_a_documented_404(stack, tokens, path):
    r = stack.session().get(stack.url + path, headers={"Authorization": f"Bearer {tokens['sender']}"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error", "message"}
