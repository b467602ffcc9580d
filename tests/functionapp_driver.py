"""Runs inside the clean venv made from the package's requirements.txt (not a test module):
imports function_app from the current directory (the package) and plays a plan of calls
through azure.functions objects, as the Functions host would.

stdin: {"steps": [{"http": name, "method", "url", "headers", "body" (text), "route"} |
                  {"trigger": name, "invocation": {...}} | {"timer": name}]}
stdout: one JSON list, per step {"status", "body"} (http) or {"ok": true} / {"error": text}."""
import json
import os
import sys

import azure.functions as func

sys.path.insert(0, os.getcwd())  # the package folder, as the Functions host runs it
import function_app  # noqa: E402


def main() -> None:
    plan = json.load(sys.stdin)
    functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    results = []
    for step in plan["steps"]:
        if "http" in step:
            req = func.HttpRequest(step["method"], step["url"], headers=step.get("headers", {}), params={},
                                   route_params=step.get("route", {}), body=step.get("body", "").encode())
            response = functions[step["http"]](req)
            body = response.get_body()
            results.append({"status": response.status_code, "body": json.loads(body) if body else None})
            continue
        try:
            if "trigger" in step:
                functions[step["trigger"]](json.dumps(step["invocation"]))
            else:
                functions[step["timer"]](None)
            results.append({"ok": True})
        except Exception as exc:  # reported, so the test shows which trigger failed and why
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
