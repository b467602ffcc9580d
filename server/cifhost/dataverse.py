"""The Dataverse side of the local CIF host: the solution's web resources (the channel
provider's landing page) at /WebResources/…, and the one Web API query the landing page
makes — environment variable definitions with their values — answered from the
solution's own definitions and this stack's settings (docs/dynamics-solution.md).

Both are served on the host's origin, as Dynamics serves them on the org's."""
from __future__ import annotations

import json
import re
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, request

from tools.solution import read_sources
from tools.solution.components import Solution, host_templates, load
from tools.solution.packager import fill

from .pages import page

bp = Blueprint("dataverse", __name__)

WEB_API = "/api/data/v9.2"
EXPAND = "environmentvariabledefinition_environmentvariablevalue"
SELECTABLE = {"schemaname", "defaultvalue", "displayname", "environmentvariabledefinitionid"}
FILTER = re.compile(r"^schemaname eq '([A-Za-z0-9_]+)'$")
RESOURCE_TYPES = {"1": "text/html; charset=utf-8", "2": "text/css; charset=utf-8", "3": "text/javascript; charset=utf-8"}
ID_SPACE = uuid.UUID("3b0c8f7e-2f1a-4d5c-9a51-6f1e6d0c2a10")  # stable local record ids


@lru_cache(maxsize=4)
def _solution(widget_url: str) -> tuple[dict[str, bytes], Solution]:
    files = fill(read_sources(), widget_url)
    return files, load(files)


def local_solution() -> tuple[dict[str, bytes], Solution]:
    """The solution as this stack would deploy it: the widget served here at /widget/."""
    return _solution(current_app.extensions["config"].widget_origin + "/widget/")


def templates_json() -> str:
    """The solution's templates for host.js, safe inside <script type="application/json">."""
    return json.dumps(host_templates(local_solution()[1])).replace("<", "\\u003c")


def variable_values() -> dict[str, str]:
    """Current values (environmentvariablevalue.value) of this stack: the solution's
    variables <prefix>_<Key> get the local settings of the widget's <Key>."""
    config = current_app.extensions["config"].widget_config()
    solution = local_solution()[1]
    return {name: config[name[len(solution.prefix) + 1:]] for name in solution.variables
            if config.get(name[len(solution.prefix) + 1:])}


def _odata_error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": {"code": "0x80040203", "message": message}}), status=status,
                    mimetype="application/json", headers={"OData-Version": "4.0"})


@bp.get("/WebResources/<path:name>")
def web_resource(name: str):
    files, solution = local_solution()
    path = solution.web_resources.get(name)
    if path is None:
        abort(404)
    found = re.search(rb"<WebResourceType>(\d+)</WebResourceType>", files[path + ".data.xml"])
    kind = found.group(1).decode() if found else ""
    csp = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'self'") if kind == "1" else None
    return page(files[path], csp, RESOURCE_TYPES.get(kind, "application/octet-stream"))


@bp.get(f"{WEB_API}/environmentvariabledefinitions")
def environment_variable_definitions():
    """GET …/environmentvariabledefinitions?$select=…&$filter=schemaname eq '…' or …
    [&$expand=environmentvariabledefinition_environmentvariablevalue($select=value)]
    → {"@odata.context", "value": [{…selected, environmentvariabledefinitionid,
    environmentvariabledefinition_environmentvariablevalue: [{value, environmentvariablevalueid}]}]}.
    Other query options are refused with 400, as this stand-in knows no others."""
    unknown = set(request.args) - {"$select", "$filter", "$expand"}
    if unknown:
        return _odata_error(400, f"this local Web API supports only $select, $filter and $expand, not {sorted(unknown)}")
    select = [s.strip() for s in request.args.get("$select", "").split(",") if s.strip()]
    if not select or set(select) - SELECTABLE:
        return _odata_error(400, f"$select must name some of {sorted(SELECTABLE)}")
    wanted = []
    for clause in request.args.get("$filter", "").split(" or "):
        match = FILTER.match(clause.strip())
        if not match:
            return _odata_error(400, "$filter must be schemaname eq '<name>' joined by ' or '")
        wanted.append(match.group(1))
    expand = request.args.get("$expand")
    if expand is not None and expand != f"{EXPAND}($select=value)":
        return _odata_error(400, f"$expand must be {EXPAND}($select=value)")

    solution = local_solution()[1]
    values = variable_values()
    rows = []
    for name in wanted:
        definition = solution.variables.get(name)
        if definition is None:
            continue
        row: dict[str, Any] = {"environmentvariabledefinitionid": str(uuid.uuid5(ID_SPACE, name))}
        row.update({field: {"schemaname": name, "defaultvalue": definition.default,
                            "displayname": definition.display_name}.get(field, row.get(field)) for field in select})
        if expand is not None:
            row[EXPAND] = [{"value": values[name], "environmentvariablevalueid": str(uuid.uuid5(ID_SPACE, "v:" + name))}
                           ] if name in values else []
        rows.append(row)
    origin = f"{urlsplit(request.host_url).scheme}://{urlsplit(request.host_url).netloc}"
    context = f"{origin}{WEB_API}/$metadata#environmentvariabledefinitions({','.join(select)})"
    response = Response(json.dumps({"@odata.context": context, "value": rows}),
                        content_type="application/json; odata.metadata=minimal")
    response.headers["OData-Version"] = "4.0"
    response.headers["Cache-Control"] = "no-store"
    return response
