"""The widget's UI: the status line (data-state, text, reason, data-error), the signed-in
user, the Sign in button and the list of recent calls. It only ever sets textContent,
never innerHTML: caller names and numbers are untrusted."""
from js import document

from adaptor_core.dialing import DialStatus
from adaptor_core.notifications import Notification

STATUS_TEXT = {"disconnected": "Disconnected", "connecting": "Connecting…", "connected": "Connected",
               "reconnecting": "Reconnecting…", "error": "Error"}


class WidgetUI:
    def __init__(self):
        self.status = document.getElementById("status")
        self.text = document.getElementById("status-text")
        self.reason = document.getElementById("status-reason")
        self.signin_button = document.getElementById("signin")
        self.user = document.getElementById("user")
        self.recent = document.getElementById("recent")

    def set_status(self, state: str, reason: str | None = None, code: str | None = None) -> None:
        """`state` as data-state (the dot's colour), the reason as text, and the error's
        code (adaptor_core.errors) as data-error."""
        self.status.dataset.state = state
        self.status.dataset.error = code or ""
        self.text.textContent = STATUS_TEXT.get(state, state)
        self.reason.textContent = reason or ""

    def set_user(self, name: str | None) -> None:
        self.user.textContent = f"Signed in as {name}" if name else ""

    def show_signin(self, visible: bool) -> None:
        self.signin_button.hidden = not visible

    def add_call(self, n: Notification, who: str) -> "CallRow":
        item = document.createElement("li")
        item.dataset.messageId = n.message_id or ""
        title, state = document.createElement("span"), document.createElement("span")
        title.className, state.className = "call", "outcome"
        title.textContent = f"{who} · {n.phone}"
        state.textContent = "ringing"
        item.append(title, state)
        self._prepend(item)
        return CallRow(item, state)

    def _prepend(self, item) -> None:
        """Newest first; the last ten rows are kept."""
        self.recent.prepend(item)
        while self.recent.children.length > 10:
            self.recent.lastElementChild.remove()

    def add_dial(self, dial_id: str, number: str, name: str | None) -> "DialRow":
        """A click-to-dial row in the recent list: `data-dial-id`, `data-dial-status`."""
        item = document.createElement("li")
        item.className = "dial"
        item.dataset.dialId = dial_id
        title, state = document.createElement("span"), document.createElement("span")
        title.className, state.className = "call", "outcome"
        title.textContent = f"Dial {name} · {number}" if name else f"Dial {number}"
        item.append(title, state)
        self._prepend(item)
        row = DialRow(item, state)
        row.show(DialStatus(dial_id, "pending", number))
        return row


class DialRow:
    def __init__(self, item, state):
        self.item, self.state = item, state

    def show(self, status: DialStatus) -> None:
        self.item.dataset.dialStatus = status.status
        self.state.textContent = status.text


class CallRow:
    def __init__(self, item, state):
        self.item, self.state = item, state

    def outcome(self, text: str) -> None:
        self.item.dataset.outcome = text
        self.state.textContent = text
