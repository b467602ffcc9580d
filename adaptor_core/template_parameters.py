"""The CIF template parameters the widget sends — the one list of names the solution's
templates (`dynamics/solution/`) may use as `{placeholders}`.

notifyEvent and createSession both receive `build(...)`'s dict as `templateParameters`;
Dynamics substitutes each `{name}` in a template's title, notification fields and
application tab parameters with the value of that name (docs/dynamics-solution.md).
`tests/test_solution_parameters.py` checks that every placeholder of every template in
the solution is a name in `PARAMETERS`, and that every name here is used by a template.

The names are the sample solution's (so its templates keep working with this widget);
values follow Dataverse's types: the case origin is the option value of
incident.caseorigincode (1 = Phone), the case title is at most 200 characters
(incident.title's maximum length)."""
from __future__ import annotations

CUSTOMER_NAME = "customerName"  # the record's name, else the caller's number (and how many records match)
CUSTOMER_ENTITY_NAME = "customerEntityName"  # the record's table: "contact" or "account"
CUSTOMER_RECORD_ID = "customerRecordId"  # contactid / accountid, "" unless exactly one record matched
PHONE_NUMBER = "extn_phonenumber"
SEARCH_TEXT = "extn_searchtext"  # what the search page (unknown or ambiguous caller) is pre-filled with
COMMENT = "extn_comment"  # the call's comments, shown on the toast
SUBJECT = "extn_subject"  # the case title
CASE_ORIGIN = "extn_media_type"  # incident.caseorigincode option value
INTERACTION_ID = "extn_interactionid"

PARAMETERS = (CUSTOMER_NAME, CUSTOMER_ENTITY_NAME, CUSTOMER_RECORD_ID, PHONE_NUMBER, SEARCH_TEXT, COMMENT, SUBJECT,
              CASE_ORIGIN, INTERACTION_ID)

# incident.caseorigincode options (Dataverse's defaults): 1 Phone, 2 Email, 3 Web.
CASE_ORIGIN_PHONE = 1
CASE_ORIGIN_BY_MEDIA = {"voice": CASE_ORIGIN_PHONE, "phone": CASE_ORIGIN_PHONE, "email": 2, "web": 3}
MAX_CASE_TITLE = 200


def case_origin(media_type: str) -> int:
    """The caseorigincode option value for a notification's mediaType; calls are Phone."""
    return CASE_ORIGIN_BY_MEDIA.get(media_type.strip().lower(), CASE_ORIGIN_PHONE)


def case_title(subject: str | None, who: str) -> str:
    """The message's subject, else "Phone call from <who>"; one line, at most 200 characters.
    Double quotes become single and backslashes go: the case tab's `data` is JSON text with
    the title substituted into a string, which they would break."""
    text = " ".join((subject or "").replace('"', "'").replace("\\", " ").split()) or f"Phone call from {who}"
    return text if len(text) <= MAX_CASE_TITLE else text[:MAX_CASE_TITLE - 1] + "…"


def build(*, phone: str, comment: str, subject: str | None, media_type: str, interaction_id: str, who: str,
          entity: str | None, record_id: str | None, search: str) -> dict:
    """templateParameters for notifyEvent and createSession: {name in PARAMETERS: str | int}.
    `who` names the caller; without one matching record (record_id None) the entity is
    "contact" and the record id empty."""
    return {
        CUSTOMER_NAME: who,
        CUSTOMER_ENTITY_NAME: entity or "contact",
        CUSTOMER_RECORD_ID: record_id or "",
        PHONE_NUMBER: phone,
        SEARCH_TEXT: search,
        COMMENT: comment,
        SUBJECT: case_title(subject, who),
        CASE_ORIGIN: case_origin(media_type),
        INTERACTION_ID: interaction_id,
    }
