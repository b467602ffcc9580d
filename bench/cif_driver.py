"""Drive the widget inside the local CIF host, from the host page itself.

The host page POSTs SendMessageToUser (same origin as the functions) and hears every CIF
call the widget makes through the host's `cif-call` event, so the POST and the
`notifyEvent` it leads to are timed on one clock (the host page's performance.now()).
Each notification is rejected as an agent would (a task is created, the widget acks);
the next is sent once the task exists and the widget has had a short pause, so runs are
sequential and do not overlap the previous acknowledgement.
"""
from __future__ import annotations

import json

from testkit import run_async
from testkit.server import REPO, ServerProcess

REFERENCE = REPO / "bench" / "reference"
SIGNALR_JS = REPO / "node_modules" / "@microsoft" / "signalr" / "dist" / "browser" / "signalr.min.js"

DRIVE_JS = """
async ({token, oid, first, count, tag, pauseMs, phone}) => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const out = [];
  for (let i = first; i < first + count; i++) {
    const iid = `${tag}-${i}`;
    const marks = {};
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup(); reject(new Error(`no task for ${iid} within 20 s: ${JSON.stringify(marks)}`));
      }, 20000);
      function cleanup() { clearTimeout(timer); window.removeEventListener("cif-call", on); }
      function on(e) {
        const c = e.detail;
        if (c.method === "searchAndOpenRecords" && marks.search === undefined && marks.post !== undefined) marks.search = c.t;
        const params = c.args && c.args[0] && c.args[0].templateParameters;
        if (c.method === "notifyEvent" && params && params.extn_interactionid === iid) {
          marks.notify = c.t;
          setTimeout(() => {  // the toast exists once the host has handled the call it just logged
            const n = window.cifHost.pendingNotifications().find((p) => p.templateParameters.extn_interactionid === iid);
            window.cifHost.answer(n.index, "Reject");
          }, 0);
        }
        if (c.method === "createRecord" && marks.notify !== undefined) { marks.task = c.t; cleanup(); resolve(); }
      }
      window.addEventListener("cif-call", on);
    });
    marks.post = performance.now();
    const r = await fetch("/api/SendMessageToUser", {method: "POST",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify({userId: oid, message: {PhoneNumber: phone, comments: "bench " + i,
                                                   mediaType: "voice", interactionId: iid}})});
    marks.accepted = performance.now();
    if (r.status !== 202) throw new Error(`POST ${iid}: ${r.status} ${await r.text()}`);
    await done;
    out.push({i, post_ms: marks.accepted - marks.post, search_ms: marks.search - marks.post,
              notify_ms: marks.notify - marks.post, task_ms: marks.task - marks.post});
    await wait(pauseMs);
  }
  return out;
}
"""


def host_url(server: ServerProcess) -> str:
    """The host on 127.0.0.1 frames the widget from localhost (another origin, as Dynamics does)."""
    return f"https://127.0.0.1:{server.port}/"


def route_reference_widget(ctx, token: str) -> None:
    """Make the host frame the JS reference widget (bench/reference/) instead of ours:
    Playwright answers the widget's URL with it, handing in the agent's access token."""
    import re

    ctx.add_init_script(f"window.benchAccessToken = {json.dumps(token)};")
    ctx.route(re.compile(r"^https://localhost:\d+/widget/(\?.*)?$"), lambda r: r.fulfill(
        status=200, content_type="text/html", body=(REFERENCE / "widget.html").read_text()))
    ctx.route("**/bench-ref/widget.js", lambda r: r.fulfill(
        status=200, content_type="text/javascript", body=(REFERENCE / "widget.js").read_text()))
    ctx.route("**/bench-ref/signalr.min.js", lambda r: r.fulfill(
        status=200, content_type="text/javascript", body=SIGNALR_JS.read_text()))


def open_host(ctx, server: ServerProcess):
    """The host page with the widget registered (sign-in silent: the context carries the msal
    cache, or the JS reference's token)."""
    page = ctx.new_page()
    page.goto(host_url(server))
    frame = page.frame_locator("#widget-frame")
    frame.locator("body[data-registered]").wait_for(timeout=120_000)
    widget = next(f for f in page.frames if "/widget/" in f.url)
    return page, widget


def drive(page, token: str, oid: str, first: int, count: int, tag: str, pause_ms: float = 25,
          phone: str = "+15551234567") -> list[dict]:
    """Send `count` calls one after another; per call, ms after the POST started:
    post (202 back), search (searchAndOpenRecords), notify (notifyEvent), task (createRecord)."""
    return page.evaluate(DRIVE_JS, {"token": token, "oid": oid, "first": first, "count": count, "tag": tag,
                                    "pauseMs": pause_ms, "phone": phone})


def sender_access_token(server: ServerProcess) -> str:
    from testkit.tenant import Tenant, sender_token

    async def get() -> str:
        async with server.async_http() as http:
            return await sender_token(http, Tenant.from_identity(server.url, server.identity()))

    return run_async(get())


def alice_oid(server: ServerProcess) -> str:
    return user_oid(server, "alice")


def user_oid(server: ServerProcess, name: str) -> str:
    return json.loads((server.state_dir / "identity.json").read_text())["users"][name]["oid"]


def agent_access_token(server: ServerProcess, name: str) -> str:
    """An agent's API access token through the identity provider's code flow (testkit/tenant.py)."""
    from testkit.tenant import Tenant, agent_token

    async def get() -> str:
        async with server.async_http() as http:
            return await agent_token(http, Tenant.from_identity(server.url, server.identity()), name)

    return run_async(get())

