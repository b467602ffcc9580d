"""Phone numbers for the functions, with Google's libphonenumber rules (`phonenumbers`):
an incoming caller's number as E.164 plus the forms worth searching Dataverse's phone
fields for (docs/cif.md, "Caller matching"), and a click-to-dial number as E.164
(docs/functions-api.md, "Click-to-dial"). A number without a country code is read in
the `DefaultPhoneRegion` setting's country."""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from .errors import ApiError, ConfigError

DEFAULT_REGION = "US"
MAX_FORMS = 16  # each becomes a startswith(...) clause per phone field: keep the query URL small
DIGIT_GROUPS = re.compile(r"\d+")


@dataclass(frozen=True)
class CallerNumber:
    """`e164` None when the number could not be read (then `forms` is the raw text alone)."""
    e164: str | None
    forms: tuple[str, ...]


def region_setting(value: str | None) -> str:
    """The DefaultPhoneRegion setting: a CLDR region code libphonenumber knows (e.g. US,
    GB, DE), upper-cased; ConfigError naming the key otherwise."""
    if value is None or not value.strip():
        return DEFAULT_REGION
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"DefaultPhoneRegion: '{value}' is not a region code libphonenumber knows (e.g. US, GB, DE)")
    return region


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None
    # Possible (the length fits the country's plan), not necessarily valid: test and
    # fictional ranges such as +1 555 … are not assigned but are still dialled and stored.
    return number if phonenumbers.is_possible_number(number) else None


def caller_number(raw: str, region: str = DEFAULT_REGION) -> CallerNumber:
    """The incoming number as E.164 and the forms people save it in — E.164, the
    international and national formats, their digit groups joined by space, dash or dot,
    the national number with and without the trunk prefix — at most MAX_FORMS, first the
    likeliest. A number that can't be read is matched as sent: forms = (raw,)."""
    number = _parse(raw, region)
    if number is None:
        return CallerNumber(None, (raw.strip(),) if raw.strip() else ())
    number.extension = None  # an extension is not part of the number a record is found by
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    cc = str(number.country_code)
    assert number.country_code is not None  # parse() sets it
    nsn = phonenumbers.national_significant_number(number)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(number.country_code))
    trunk = (metadata.national_prefix if metadata else None) or ""
    groups = DIGIT_GROUPS.findall(international.split(" ", 1)[1] if " " in international else nsn)
    national_groups = DIGIT_GROUPS.findall(national)
    forms = [e164, international, national, nsn]
    forms += [f"+{cc}{sep}{sep.join(groups)}" for sep in (" ", "-", ".")]
    forms += [sep.join(national_groups) for sep in ("-", ".", " ")]
    if trunk and national.startswith(trunk):  # 020 7946 0123 → +44 (0)20 7946 0123
        forms.append(f"+{cc} ({trunk}){national[len(trunk):]}")
    else:  # (555) 123-4567 → +1 (555) 123-4567, 1-555-123-4567
        forms.append(f"+{cc} {national}")
        if trunk:
            forms += [f"{trunk}{nsn}", f"{trunk}-{'-'.join(national_groups)}", f"{trunk} {national}"]
    forms += ["".join(national_groups), national.replace(") ", ")")]
    unique = list(dict.fromkeys(f for f in forms if f))
    return CallerNumber(e164, tuple(unique[:MAX_FORMS]))


@dataclass(frozen=True)
class DialNumber:
    e164: str
    extension: str | None


def dial_number(raw: str, region: str = DEFAULT_REGION, field: str = "number") -> DialNumber:
    """A number to dial as E.164 (and its extension, if written: `ext. 12`, `x12`); 422
    `invalid_number` naming `field` when libphonenumber can't read it as a possible number."""
    number = _parse(raw, region)
    if number is None:
        raise ApiError(422, "invalid_number", f"'{field}' is not a phone number that can be dialled: {raw[:64]!r} "
                                              f"(an E.164 number such as +15551234567, or a national one in "
                                              f"the DefaultPhoneRegion {region}).")
    extension = number.extension or None
    number.extension = None
    return DialNumber(phonenumbers.format_number(number, PhoneNumberFormat.E164), extension)
