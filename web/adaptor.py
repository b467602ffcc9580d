"""Adaptor widget (Python in Pyodide via PyScript): the sample's signalRadaptor logic as
browser glue around adaptor_core. The core decides (protocol, reconnects, CIF mapping);
this module performs: fetch, the JS WebSocket, timers, msal and Microsoft.CIFramework
calls. The UI is ui.py; start-up (configuration, CIF set-up) is main.py."""
import asyncio
import json
import random
import sys
import time
import uuid
from typing import TYPE_CHECKING

from js import WebSocket, document, performance, window
from pyodide.ffi import create_proxy
from pyodide.http import pyfetch
from ui import DialRow, WidgetUI

if TYPE_CHECKING:
    from signin import BrowserSignIn

from adaptor_core import connection as hub
from adaptor_core.caller_match import TABLES, Caller, lookup_query, matching_records, several
from adaptor_core.config import WidgetConfig
from adaptor_core.dialing import DialError, DialStatus, dial_request, parse_dial_status, record_query, with_record
from adaptor_core.errors import NotificationError
from adaptor_core.hub_methods import (
    CANCEL_NOTIFICATION,
    RECEIVE_DIAL_STATUS,
    RECEIVE_NOTIFICATION,
    REPORT_PRESENCE,
    REQUEST_DIAL,
    SEND_MESSAGE,
    Handlers,
)
from adaptor_core.negotiate import Negotiated, NegotiateError, Negotiation
from adaptor_core.notifications import (
    CreateSession,
    Deduper,
    Lookup,
    Notification,
    ack,
    notify_input,
    parse_notification,
    parse_notify_result,
    plan_outcome,
)
from adaptor_core.phone_calls import PHONECALL, CallLog, closed_session_id, created_id, phonecall_record
from adaptor_core.presence import PresenceReport, from_get_presence, from_presence_change
from adaptor_core.tokens import TokenKeeper
from adaptor_core.withdrawal import Ringing, correlation_id, parse_withdrawal, withdrawn_outcome

MARKS: dict[str, float] = {}  # navigation-relative milestones (ms), for diagnostics and benchmarks


def mark(name: str) -> None:
    MARKS[name] = round(performance.now(), 1)


def to_python(value):
    """A hub message argument as Python data: JsProxy objects converted, Python values as they are."""
    return value.to_py() if hasattr(value, "to_py") else value


def first_argument(arguments: list):
    """The first argument of a hub invocation as Python data (None when there is none)."""
    return to_python(arguments[0]) if arguments else None


def now() -> float:
    return time.monotonic()


# --- the adaptor (seed: signalRadaptor.js) ------------------------------------------------

class Adaptor:
    def __init__(self, config: WidgetConfig, ui: WidgetUI, cif):
        self.config, self.ui, self.cif = config, ui, cif
        self.core = hub.HubConnection(rng=random.Random())
        self.dedupe = Deduper()
        self.signin: BrowserSignIn | None = None  # made (importing msal) only when msal has work
        self.ws = None
        self._ws_handlers: list = []
        self._signin_click: asyncio.Future | None = None
        self.tokens = TokenKeeper()  # when to renew, on this tab's monotonic clock (skew-proof)
        self._tasks: set = set()
        self.delivered = 0
        self.handlers = Handlers()
        self.dials: dict[str, DialRow] = {}  # this tab's click-to-dial rows by dial id
        self.on(RECEIVE_NOTIFICATION, self._on_notification)
        self.on(CANCEL_NOTIFICATION, self._on_withdrawal)
        self.ringing = Ringing()
        self._ringing_tasks: dict[str, tuple] = {}  # key → (its task, [notified?], its row)
        self.call_log = CallLog()
        self.presence: PresenceReport | None = None  # the agent's latest CIF presence
        self._registered: str | None = None  # the connection id /api/userclient recorded
        self.on(RECEIVE_DIAL_STATUS, self._on_dial_status)

    def on(self, target: str, fn) -> None:
        """Call `fn(arguments)` for each invocation of hub method `target` from the server."""
        self.handlers.on(target, fn)

    def _on_notification(self, arguments: list) -> None:
        if arguments:
            self.spawn(self.notify_incoming_call(arguments[0]))

    def _on_withdrawal(self, arguments: list) -> None:
        """CANCEL_NOTIFICATION: the caller hung up or another tab answered. A toast up here
        goes with cancelEvent(its token); the call's task stops (no task, no ack)."""
        try:
            withdrawal = parse_withdrawal(first_argument(arguments))
        except NotificationError as exc:
            self.ui.set_status(self.core.state, f"ignored a malformed withdrawal: {exc}", exc.code)
            return
        token = self.ringing.withdraw(withdrawal.message_id)
        found = self._ringing_tasks.pop(withdrawal.message_id, None)
        if token is None or found is None:
            return
        task, notified, row = found
        task.cancel()
        row.outcome(withdrawn_outcome(withdrawal))
        if notified[0] and self.cif is not None:
            self.spawn(self._cancel_event(token))

    async def _cancel_event(self, token: str) -> None:
        from cif import CifError

        try:
            await self.cif.call("cancelEvent", token, correlation_id(token))
        except CifError as exc:  # answered meanwhile: nothing is up any more
            print(f"adaptor: {exc}", file=sys.stderr)

    def spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # seed: acquireTokenSilent / acquireToken
    async def acquire_token(self) -> str:
        from signin import SignInFailed, SignInRequired, cached_sign_in

        fresh = self.tokens.fresh(now())
        if fresh is not None:
            return fresh
        # A reload: a token in this tab's cache that is good for a while; msal is imported
        # later, when a renewal is due.
        cached = cached_sign_in(self.config.ClientId, self.config.Authority, self.config.Scope) \
            if self.signin is None else None
        remaining = None
        token: str | None
        if cached is not None:
            token, username, remaining = cached
        else:
            signin = self._ensure_signin()
            token = signin.silent()
            while token is None:
                try:
                    token = await signin.interactive()
                except (SignInRequired, SignInFailed) as exc:
                    self.ui.set_status("error", str(exc), exc.code)
                    await self._wait_for_signin_click()
            username = signin.username
        self.ui.set_user(username)
        self.ui.show_signin(False)
        if token != self.tokens.token:
            self.tokens.received(token, now(), remaining)
            self.spawn(self._renew_before_expiry(token))
        return token

    def _ensure_signin(self) -> "BrowserSignIn":
        if self.signin is None:
            from signin import BrowserSignIn  # imports msal

            base = window.location.href.split("?")[0].rsplit("/", 1)[0]
            self.signin = BrowserSignIn(self.config.ClientId, self.config.Authority, self.config.Scope,
                                        f"{base}/auth-redirect.html")
        return self.signin

    async def _wait_for_signin_click(self) -> None:
        self._signin_click = asyncio.get_running_loop().create_future()
        self.ui.show_signin(True)
        await self._signin_click

    def signin_clicked(self, _event=None) -> None:
        if self._signin_click is not None and not self._signin_click.done():
            self._signin_click.set_result(True)

    async def _renew_before_expiry(self, token: str) -> None:
        """Keep a fresh token ready so a reconnect never waits on an expired one. The
        delay comes from the token's own lifetime (TokenKeeper), never below its floor."""
        await asyncio.sleep(max(0.0, self.tokens.renew_at - now()))
        if token == self.tokens.token:
            renewed = self._ensure_signin().silent(force_refresh=True)
            if renewed:
                self.tokens.received(renewed, now())
                self.spawn(self._renew_before_expiry(renewed))

    # seed: startConnection
    def start_connection(self) -> None:
        self.perform(self.core.start(now()))
        self.spawn(self._ticker())
        # A hidden tab's timers run once a minute; when the agent comes back, catch up at once.
        document.addEventListener("visibilitychange", create_proxy(lambda _e: self.perform(self.core.tick(now()))))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.perform(self.core.tick(now()))

    def perform(self, actions: list) -> None:
        for action in actions:
            try:
                self._perform_one(action)
            except Exception as exc:  # one failing action (a JS exception) must not skip the ones after it
                print(f"adaptor: {action.__class__.__name__} failed: {exc}", file=sys.stderr)

    def _perform_one(self, action) -> None:
        if isinstance(action, hub.StateChanged):
            reason = action.reason
            if action.retry_in:
                reason = f"{reason} — retrying in {action.retry_in:.0f} s"
            self.ui.set_status(action.state, reason)
            if action.state == hub.State.CONNECTED:
                mark("connected")
        elif isinstance(action, hub.Negotiate):
            self.spawn(self.connect_to_signalr())
        elif isinstance(action, hub.OpenSocket):
            self._open_socket(action.url, action.socket_id)
        elif isinstance(action, hub.SendText):
            if self.ws is not None and self.ws.readyState == 1:
                self.ws.send(action.text)
        elif isinstance(action, hub.CloseSocket):
            if self.ws is not None:
                self.ws.close(1000, action.reason)  # the core keeps it within 123 UTF-8 bytes
        elif isinstance(action, hub.Connected):
            self.spawn(self.register_client(action.connection_id))
        elif isinstance(action, hub.Deliver):
            for fn in self.handlers.get(action.invocation.target):
                fn(action.invocation.arguments)
        elif isinstance(action, hub.Answered) and action.target == REQUEST_DIAL:
            self._on_dial_answered(action)

    async def _post(self, url: str, token: str | None, body: dict | None = None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await pyfetch(url, method="POST", headers=headers,
                                 body=json.dumps(body) if body is not None else None)
        return response.status, await response.text()

    # seed: connectToSignalR (negotiate through the functions, then the service)
    async def connect_to_signalr(self) -> None:
        try:
            # the functions' hub endpoint is /api/ (its negotiate: /api/negotiate), as the JS client names it
            negotiation = Negotiation(self.config.function_url(""), await self.acquire_token())
            mark("token")
            while True:  # bounded: Negotiation refuses the 100th redirect
                request = negotiation.request
                step = negotiation.answer(*await self._post(request.url, request.access_token))
                if isinstance(step, Negotiated):
                    break
                if negotiation.redirects == 1:
                    mark("negotiated")  # the functions' answer (a redirect to the service)
            mark("service_negotiated")
        except NegotiateError as exc:
            self.perform(self.core.negotiate_failed(str(exc), now()))
            return
        except Exception as exc:  # network down, sign-in trouble: the core schedules a retry
            self.perform(self.core.negotiate_failed(str(exc) or exc.__class__.__name__, now()))
            return
        self.perform(self.core.negotiated(step.url, step.connection_id, step.connection_token, step.access_token,
                                          now()))

    def _open_socket(self, url: str, socket_id: int) -> None:
        self._release_socket()
        ws = WebSocket.new(url)
        self.ws = ws

        def on_open(_e):
            mark("socket_open")
            self.perform(self.core.socket_opened(now(), socket_id))

        def on_message(e):
            self.perform(self.core.data_received(str(e.data), now(), socket_id))

        def on_close(e):
            if ws is self.ws:
                self._release_socket()
            self.perform(self.core.socket_closed(f"connection lost (code {e.code})", now(), socket_id))

        for name, fn in (("open", on_open), ("message", on_message), ("close", on_close)):
            proxy = create_proxy(fn)
            ws.addEventListener(name, proxy)
            self._ws_handlers.append((name, proxy))

    def _release_socket(self) -> None:
        """Detach and free the JS callbacks of the previous socket (no proxy leaks)."""
        if self.ws is not None:
            for name, proxy in self._ws_handlers:
                self.ws.removeEventListener(name, proxy)
                proxy.destroy()
        self._ws_handlers, self.ws = [], None

    # seed: registerClient
    async def register_client(self, connection_id: str) -> None:
        try:
            status, text = await self._post(self.config.function_url("userclient"), await self.acquire_token(),
                                            {"connectionId": connection_id, "connectionStatus": 1})
            if status != 200:
                raise RuntimeError(f"{status} {error_message(text)}".strip())
        except Exception as exc:  # the core retries on this connection after a backoff
            self.perform(self.core.registration_failed(str(exc), connection_id, now()))
            return
        self.perform(self.core.registration_done(connection_id))
        self.ui.set_status(self.core.state)  # clears a registration failure shown before
        mark("registered")
        self._registered = connection_id
        document.body.dataset.registered = connection_id
        if self.presence is not None:  # each connection tells the functions where the agent stands
            self._send_presence()

    # --- presence (CIF → the functions) ---------------------------------------------------------
    async def read_presence(self) -> None:
        """getPresence at start; reported once registered."""
        from cif import CifError

        try:
            report = from_get_presence(await self.cif.call("getPresence"))
        except CifError as exc:
            print(f"adaptor: {exc}", file=sys.stderr)
            return
        if report is not None:
            self.presence_changed(report)

    async def on_presence_change(self, name: str, payload: dict) -> None:
        """onPresenceChange: its presenceInfo, or getPresence for the `{presenceId}` form."""
        report = from_presence_change(payload)
        if report is None:
            await self.read_presence()
        else:
            self.presence_changed(report)

    def presence_changed(self, report: PresenceReport) -> None:
        if report == self.presence:
            return
        self.presence = report
        document.body.dataset.presence = report.presence_text
        if self._registered is not None:
            self._send_presence()

    def _send_presence(self) -> None:
        assert self.presence is not None
        self.perform(self.core.invoke_until_answered(REPORT_PRESENCE, [self.presence.argument()], now()))

    # seed: the ReceiveNotification handler → CIF notification
    async def notify_incoming_call(self, argument) -> None:
        try:
            n = parse_notification(to_python(argument))
        except NotificationError as exc:
            self.ui.set_status(self.core.state, f"ignored a malformed notification: {exc}", exc.code)
            return
        if not self.dedupe.first_time(n.key):
            return
        token = self.ringing.start(n.key, str(uuid.uuid4()))
        if token is None:  # withdrawn before it arrived (a redelivery racing the cancel)
            return
        self.delivered += 1
        row = self.ui.add_call(n, n.phone)
        if self.cif is None:
            row.outcome("Failed: no CIF host")
            self.acknowledge_message_received(n, "Failed", "CIF library not available")
            return
        notified = [False]
        if n.key is not None:
            task = asyncio.current_task()
            assert task is not None
            self._ringing_tasks[n.key] = (task, notified, row)
        try:
            await self._ring(n, row, token, notified)
        finally:
            if n.key is not None:
                self._ringing_tasks.pop(n.key, None)

    async def _ring(self, n: Notification, row, token: str, notified: list) -> None:
        from cif import CifError

        try:
            lookup = await self.look_up_caller(n)
            if lookup.caller:
                row.item.firstChild.textContent = f"{lookup.caller.name} · {n.phone}"
            elif lookup.callers:
                row.item.firstChild.textContent = f"{several(lookup.callers)} · {n.phone}"
            notified[0] = True
            result = parse_notify_result(await self.cif.call("notifyEvent", notify_input(n, lookup, self.config, token),
                                                             correlation_id(token), token))
            self.ringing.finish(n.key)
            self._ringing_tasks.pop(n.key or "", None)  # answered here: a withdrawal now changes nothing
            plan = plan_outcome(result, n, lookup, self.config)
            if isinstance(plan, CreateSession):
                session_id = await self.cif.call("createSession", plan.input)
            else:
                await self.cif.call("createRecord", plan.entity, plan.data)
        except (CifError, NotificationError) as exc:
            self.ringing.finish(n.key)
            row.outcome("Failed")
            self.acknowledge_message_received(n, "Failed", str(exc))
            return
        row.outcome(plan.outcome)
        self.acknowledge_message_received(n, plan.outcome, f"{result.action}/{result.reason}")
        if isinstance(plan, CreateSession) and self.config.call_logging:
            await self._log_call(n, lookup.caller, str(session_id), row, plan.outcome)

    async def _log_call(self, n: Notification, caller: Caller | None, session_id: str, row, outcome: str) -> None:
        """The accepted call's phone call activity, tied to its session (completed in
        on_session_closed); a failure shows on the call's row, the call stays accepted."""
        from cif import CifError

        started = time.time()
        regarding = (caller.entity, caller.record_id) if caller else None  # the one matching contact or account
        try:
            data = phonecall_record(n, regarding, caller.name if caller else None, started)
            activity_id = created_id(await self.cif.call("createRecord", PHONECALL, data))
        except (CifError, NotificationError) as exc:
            row.outcome(f"{outcome} (not logged: {exc})")
            return
        self.call_log.opened(session_id, activity_id, started)
        row.item.dataset.phonecallId = activity_id

    async def on_session_closed(self, name: str, payload: dict) -> None:
        """onSessionClosed: complete the phone call activity of that session with its duration."""
        from cif import CifError

        session_id = closed_session_id(payload)
        closing = self.call_log.closed(session_id, time.time()) if session_id else None
        if closing is None:
            return
        activity_id, data = closing
        try:
            await self.cif.call("updateRecord", PHONECALL, activity_id, data)
        except CifError as exc:
            print(f"adaptor: completing phone call {activity_id}: {exc}", file=sys.stderr)

    async def look_up_caller(self, n: Notification) -> Lookup:
        """The records of the configured tables whose phone fields hold the caller's number
        (adaptor_core/caller_match.py), one searchAndOpenRecords per table."""
        callers = []
        for name in self.config.caller_tables:
            table = TABLES[name]
            result = await self.cif.call("searchAndOpenRecords", name, lookup_query(table, n.search_forms), True)
            callers += matching_records(table, result, n.search_forms)
        return Lookup(tuple(callers))

    # seed: acknowledgeMessageReceived (kept until the service answers; sent after a reconnect)
    def acknowledge_message_received(self, n: Notification, outcome: str, reason: str | None = None) -> None:
        self.perform(self.core.invoke_until_answered(SEND_MESSAGE, [ack(n, outcome, reason)], now()))

    # click-to-dial: CIF's onclicktoact → requestDial → ReceiveDialStatus (docs/cif.md, "Click-to-dial")
    async def on_click_to_act(self, name: str, payload: dict) -> None:
        document.body.dataset.clickToAct = json.dumps(payload)
        try:
            request = dial_request(payload, uuid.uuid4().hex)
        except DialError as exc:
            self.ui.set_status(self.core.state, f"click-to-dial: {exc}", exc.code)
            return
        query = record_query(request)
        if query is not None and self.cif is not None:
            from cif import CifError

            try:  # which record was clicked: the telephony system may log the call against it
                request = with_record(request, await self.cif.call("searchAndOpenRecords", *query, True))
            except (CifError, NotificationError):
                pass  # dialled all the same, without the record's id
        self._dial_row(request["dialId"], request["number"], request["record"].get("name"))
        self.perform(self.core.invoke_until_answered(REQUEST_DIAL, [request], now()))

    def _dial_row(self, dial_id: str, number: str, name: str | None = None) -> DialRow:
        row = self.dials.get(dial_id)
        if row is None:
            row = self.dials[dial_id] = self.ui.add_dial(dial_id, number, name)
            while len(self.dials) > 10:
                del self.dials[next(iter(self.dials))]
        return row

    def _on_dial_status(self, arguments: list) -> None:
        """Every tab of the agent follows every dial (pushed after each webhook attempt)."""
        try:
            status = parse_dial_status(first_argument(arguments))
        except DialError as exc:
            self.ui.set_status(self.core.state, f"ignored a malformed dial status: {exc}", exc.code)
            return
        self._dial_row(status.dial_id, status.number).show(status)

    def _on_dial_answered(self, answer: hub.Answered) -> None:
        request = answer.arguments[0]
        row = self._dial_row(request["dialId"], request["number"])
        if answer.error is not None:
            row.show(DialStatus(request["dialId"], "refused", request["number"], error=answer.error))
            return
        try:
            row.show(parse_dial_status(answer.result))
        except DialError:
            pass  # the pushed status shows it

    async def on_cif_event(self, name: str, payload: dict) -> None:
        document.body.dataset.lastCifEvent = name
        if name == "onSessionClosed":
            await self.on_session_closed(name, payload)


def error_message(text: str) -> str:
    """The `message` (or `error`) of a JSON error body; '' otherwise."""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    return str(data.get("message") or data.get("error") or "") if isinstance(data, dict) else ""
