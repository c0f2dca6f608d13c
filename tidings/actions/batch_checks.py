"""Validation of XMS batch requests: `check_*` turn a decoded JSON body into a normalised
`MtText` (numbers in E.164, dates in epoch ms, defaults applied) or raise a `RequestError` naming
the field. Nothing here touches the database.

Two kinds of batch: `mt_text` (the hot path, checked first and unchanged by the other) and
`mt_binary` (8-bit data: `body` the payload in Base64, `udh` the user data header in hex with its
length octet first, together at most 140 octets, one part per recipient).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import phonenumbers

from tidings.config import Settings
from tidings.core.encoding import (
    MAX_CONCAT_PARTS,
    MAX_SHORT_MESSAGE,
    Encoding,
    count_segments,
    udh_error,
)
from tidings.core.errors import RequestError
from tidings.core.personalize import (
    MAX_PARAMETER_KEY,
    MAX_PARAMETER_VALUE,
    PARAMETER_KEY,
    render_body,
)

# XMS's 400 codes: a value of the wrong form (an MSISDN that is not one, a string for a boolean),
# and every other constraint of the API, a required field left out among them.
CONSTRAINT = "syntax_constraint_violation"
INVALID_FORMAT = "syntax_invalid_parameter_format"
MISSING = CONSTRAINT

DELIVERY_REPORTS = frozenset({"none", "summary", "full", "per_recipient", "per_recipient_final"})
MAX_EXPIRY_MS = 3 * 24 * 3600 * 1000
MAX_ALPHANUMERIC_SENDER = 11
MAX_CLIENT_REFERENCE = 2048
MAX_URL = 2048
MAX_TON = 6  # SMPP 3.4 5.2.5: unknown … abbreviated
MAX_NPI = 18  # SMPP 3.4 5.2.6: unknown … WAP client id
# Numbers validated per slice before yielding to the event loop (`validate_numbers_in_slices`).
NUMBERS_PER_SLICE = 64

_SEND_FIELDS = frozenset({
    "to", "from", "body", "type", "parameters", "delivery_report", "callback_url",
    "client_reference", "send_at", "expire_at", "max_number_of_message_parts", "truncate_concat",
    "flash_message", "feedback_enabled", "from_ton", "from_npi",
    # Tidings extensions (docs/subsystems/policy.md): why the batch is sent, and its collapse key.
    "purpose", "collapse_key",
})
_UPDATE_FIELDS = (_SEND_FIELDS - {"to"}) | {"to_add", "to_remove"}
MT_TEXT = "mt_text"
MT_BINARY = "mt_binary"
# Exactly the fields of the SDK's BinaryRequest / UpdateBinaryRequest, and the purpose extension:
# the text-only ones (parameters, flash_message, max_number_of_message_parts …) are unknown here.
_BINARY_SEND_FIELDS = frozenset({
    "to", "from", "body", "udh", "type", "delivery_report", "send_at", "expire_at", "callback_url",
    "client_reference", "feedback_enabled", "from_ton", "from_npi", "purpose",
})
_BINARY_UPDATE_FIELDS = (_BINARY_SEND_FIELDS - {"to"}) | {"to_add", "to_remove"}
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The date-times the API can show (ISO-8601 and the SDK's parser stop at the year 9999), in UTC.
MIN_DATETIME_MS = (dt.datetime.min.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
MAX_DATETIME_MS = (dt.datetime.max.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class MtText:
    """A validated text batch; `to` deduplicated, in E.164, in the caller's order. `kind` says
    which batch it is (`MtBinary` is the other)."""

    to: tuple[str, ...]
    sender: str | None  # None: `from` left out, each recipient's default originator (sender policy)
    body: str
    parameters: dict[str, dict[str, str]] | None
    delivery_report: str
    callback_url: str | None
    client_reference: str | None
    send_at_ms: int | None
    expire_at_ms: int
    max_number_of_message_parts: int | None
    truncate_concat: bool | None
    flash_message: bool
    feedback_enabled: bool
    purpose: str = "information"
    collapse_key: str | None = None
    sender_ton: int | None = None  # `from_ton`: overrides the type of number detected from `sender`
    sender_npi: int | None = None  # `from_npi`: overrides the numbering plan detected from `sender`
    kind: ClassVar[str] = MT_TEXT


@dataclass(frozen=True)
class MtBinary(MtText):
    """A validated `mt_binary` batch: `body` is its payload in Base64 (as the caller sent it, the
    canonical form), `udh` its user data header in lower-case hex, length octet first (None: no
    header). The text-only fields keep their empty values.

    A subclass, not two more fields of `MtText`: every field of the frozen dataclass is set in
    its `__init__`, and two more cost each text send ~0.2 µs (~2 % of `check_send_rendered`)."""

    udh: str | None = None
    kind: ClassVar[str] = MT_BINARY


@dataclass(frozen=True)
class Rendered:
    recipient: str
    body: str
    encoding: Encoding
    parts: int


def invalid(field: str, text: str, code: str = CONSTRAINT) -> RequestError:
    return RequestError(code, f"{field}: {text}", 400, {field: text})


# ---------------------------------------------------------------------------------------------
# Field checks


@functools.lru_cache(maxsize=65536)
def _normalise_number(raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def validate_numbers_in_slices(payload: object, *fields: str) -> None:
    """Validate the phone numbers of a long recipient list a slice at a time, yielding to the
    event loop between slices; the checks that follow find them in `_normalise_number`'s cache.

    A new number costs ~90 µs in `phonenumbers` (parse, validity, format), so 1,000 new
    recipients held the loop for ~90 ms in one go: every other request on it — a verification
    code among them — waited that long. Errors are left to the checks that follow."""
    if not isinstance(payload, Mapping):
        return
    for field in fields:
        numbers = payload.get(field)
        if not isinstance(numbers, list) or len(numbers) <= NUMBERS_PER_SLICE:
            continue
        for start in range(0, len(numbers), NUMBERS_PER_SLICE):
            for raw in numbers[start:start + NUMBERS_PER_SLICE]:
                if isinstance(raw, str):
                    _normalise_number(raw)
            await asyncio.sleep(0)


def check_msisdn(field: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise invalid(field, "must be a string phone number", INVALID_FORMAT)
    number = _normalise_number(raw)
    if number is None:
        raise invalid(field, f"not a valid phone number: {raw!r}", INVALID_FORMAT)
    return number


def check_recipients(field: str, raw: object, max_recipients: int, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise invalid(field, "must be a list of phone numbers", INVALID_FORMAT)
    if not raw and not allow_empty:
        raise invalid(field, "must contain at least one recipient")
    if len(raw) > max_recipients:
        raise invalid(field, f"at most {max_recipients} recipients per batch")
    return tuple(dict.fromkeys(check_msisdn(f"{field}[{i}]", item) for i, item in enumerate(raw)))


def check_sender(raw: object) -> str:
    if raw is None:
        raise invalid("from", "is required", MISSING)
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("from", "must be a non-empty string", INVALID_FORMAT)
    text = raw.strip()
    if text.startswith("+"):
        return check_msisdn("from", text)
    if text.isdigit():
        if len(text) > 15:
            raise invalid("from", "a numeric sender has at most 15 digits")
        return text
    if len(text) > MAX_ALPHANUMERIC_SENDER or not text.isascii():
        raise invalid("from", f"an alphanumeric sender has at most {MAX_ALPHANUMERIC_SENDER} ASCII characters")
    return text


def check_send_sender(raw: object) -> str | None:
    """A send's `from`: left out (or null), the batch has none, and each recipient's message goes
    out from the project's default originator for its country (Sinch's automatic default
    originator; `tidings.policy.sender_ids.decide`)."""
    return None if raw is None else check_sender(raw)


def sender_variants(raw: str) -> list[str]:
    """What a `from` filter (`GET …/batches?from=`) matches among the senders as `check_sender`
    stores them: a number with or without its `+` (`+46700000000` is stored in E.164, digits sent
    without `+` as they are; `0046…` is `+46…`), an alphanumeric sender as it is."""
    text = raw.strip()
    digits = text.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        e164 = _normalise_number(text) if text.startswith("+") else None  # `+46 70-000 00 00`
        return [text] if e164 is None else [text, e164, e164[1:]]
    digits = digits.removeprefix("00")
    return list(dict.fromkeys([text, digits, "+" + digits]))


def check_body(raw: object, settings: Settings) -> str:
    if raw is None:
        raise invalid("body", "is required", MISSING)
    if not isinstance(raw, str):
        raise invalid("body", "must be a string", INVALID_FORMAT)
    if not raw:
        raise invalid("body", "must not be empty")
    if len(raw) > settings.max_body_length:
        raise invalid("body", f"at most {settings.max_body_length} characters")
    return raw


def check_parameters(raw: object) -> dict[str, dict[str, str]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("parameters", "must be an object of objects", INVALID_FORMAT)
    out: dict[str, dict[str, str]] = {}
    for name, values in raw.items():
        field = f"parameters.{name}"
        if not PARAMETER_KEY.fullmatch(name):
            raise invalid(field, "a parameter name is letters A-Z and a-z, digits 0-9, '.', '-' and '_'",
                          INVALID_FORMAT)
        if len(name) > MAX_PARAMETER_KEY:
            raise invalid(field, f"a parameter name has at most {MAX_PARAMETER_KEY} characters")
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            raise invalid(field, "must map recipients (or \"default\") to strings", INVALID_FORMAT)
        if any(len(v) > MAX_PARAMETER_VALUE for v in values.values()):
            raise invalid(field, f"a value has at most {MAX_PARAMETER_VALUE} characters")
        out[name] = dict(values)
    return out or None


def check_delivery_report(raw: object) -> str:
    if raw is None:
        return "none"
    if raw not in DELIVERY_REPORTS:
        raise invalid("delivery_report", f"must be one of {', '.join(sorted(DELIVERY_REPORTS))}")
    return str(raw)


def check_url(field: str, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.startswith(("http://", "https://")) or len(raw) > MAX_URL:
        raise invalid(field, "must be an http(s) URL")
    return raw


def check_text(field: str, raw: object, max_length: int) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(field, "must be a string", INVALID_FORMAT)
    if len(raw) > max_length:
        raise invalid(field, f"at most {max_length} characters")
    return raw


def check_bool(field: str, raw: object) -> bool | None:
    if raw is None:
        return None
    if not isinstance(raw, bool):
        raise invalid(field, "must be true or false", INVALID_FORMAT)
    return raw


PURPOSES = ("engagement", "information", "security", "satisfaction")
MAX_COLLAPSE_KEY = 200


def check_purpose(raw: object) -> str:
    """The Tidings `purpose` extension; information when absent."""
    if raw is None:
        return "information"
    if not isinstance(raw, str) or raw.strip().lower() not in PURPOSES:
        raise invalid("purpose", f"must be one of {', '.join(PURPOSES)}")
    return raw.strip().lower()


def check_int(field: str, raw: object, low: int, high: int) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise invalid(field, "must be an integer", INVALID_FORMAT)
    if not low <= raw <= high:
        raise invalid(field, f"must be between {low} and {high}")
    return raw


def check_datetime(field: str, raw: object) -> int | None:
    """ISO-8601 date-time (a zone-less one is UTC) as epoch milliseconds, in the years 1 to 9999
    in UTC (`2099-01-01T00:00:00-05:00` is fine, `9999-12-31T23:00:00-05:00` is in the year 10000)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(field, "must be an ISO-8601 date-time string", INVALID_FORMAT)
    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise invalid(field, f"not an ISO-8601 date-time: {raw!r}", INVALID_FORMAT) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    ms = (moment - _EPOCH) // dt.timedelta(milliseconds=1)
    if not MIN_DATETIME_MS <= ms <= MAX_DATETIME_MS:
        raise invalid(field, "must be in the years 1 to 9999 (UTC)")
    return ms


def check_schedule(send_at_ms: int | None, expire_at_ms: int | None, now_ms: int) -> int:
    """The effective expire_at: default 3 days after send_at (or now), never more, never before;
    a default one after the year 9999 refuses the `send_at`."""
    start = send_at_ms if send_at_ms is not None and send_at_ms > now_ms else now_ms
    if expire_at_ms is None:
        if start + MAX_EXPIRY_MS > MAX_DATETIME_MS:
            raise invalid("send_at", "too late: expire_at, 3 days after it, would be after the year 9999")
        return start + MAX_EXPIRY_MS
    if expire_at_ms <= start:
        raise invalid("expire_at", "must be after send_at and in the future")
    if expire_at_ms > start + MAX_EXPIRY_MS:
        raise invalid("expire_at", "at most 3 days after send_at")
    return expire_at_ms


def _check_fields(payload: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise invalid(unknown[0], "unknown field")


def _unknown_kind(kind: object) -> RequestError:
    return invalid("type", f"must be {MT_TEXT} or {MT_BINARY}, not {kind!r}")


def check_binary_body(raw: object) -> str:
    """A binary payload: standard Base64 (`+/` alphabet, `=` padding, nothing else), as the
    caller sent it."""
    if raw is None:
        raise invalid("body", "is required", MISSING)
    if not isinstance(raw, str):
        raise invalid("body", "must be a Base64 string", INVALID_FORMAT)
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        payload = None
    if payload is None or base64.b64encode(payload).decode("ascii") != raw:
        raise invalid("body", "must be standard Base64 with padding (RFC 4648, alphabet A-Z a-z 0-9 + /)",
                      INVALID_FORMAT)
    return raw


def check_udh(raw: object) -> str | None:
    """A user data header in hex, its length octet (UDHL) first: `06050415811581`. The empty
    string is no header. Returned in lower case; None for none."""
    if raw is None:
        raise invalid("udh", "is required (\"\" for a message without a header)", MISSING)
    if not isinstance(raw, str):
        raise invalid("udh", "must be a hex string", INVALID_FORMAT)
    if not raw:
        return None
    if not _HEX.fullmatch(raw):
        raise invalid("udh", "must be hex digits, two per octet", INVALID_FORMAT)
    header = bytes.fromhex(raw)
    error = udh_error(header)
    if error is not None:
        raise invalid("udh", error)
    return header.hex()


def check_binary_size(body: str, udh: str | None) -> None:
    """Payload and header fit one SMS: at most 140 octets together, and not both empty."""
    octets = len(base64.b64decode(body)) + (len(udh) // 2 if udh else 0)
    if octets > MAX_SHORT_MESSAGE:
        raise invalid("body", f"body and udh together are {octets} octets, at most {MAX_SHORT_MESSAGE}")
    if octets == 0:
        raise invalid("body", "must not be empty when there is no udh")


def check_object(payload: object) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise RequestError("syntax_invalid_json", "The request body must be a JSON object", 400)
    return payload


# ---------------------------------------------------------------------------------------------
# Whole requests


def check_send(payload: object, settings: Settings, now_ms: int) -> MtText:
    """A send (or replace, or dry run) body."""
    return check_send_rendered(payload, settings, now_ms)[0]


def check_send_rendered(payload: object, settings: Settings, now_ms: int, *,
                        allow_empty_to: bool = False) -> tuple[MtText, list[Rendered]]:
    """`check_send`, also returning each recipient's rendered body (computed to check it; also
    for the messages that exceed the parts limit, `exceeds_parts_limit`).
    `allow_empty_to`: a `to` may be empty (a scheduled send to groups naming no number itself)."""
    p = check_object(payload)
    kind = p.get("type")
    if kind is not None and kind != MT_TEXT:
        if kind == MT_BINARY:
            return _check_binary_send(p, settings, now_ms, allow_empty_to)
        raise _unknown_kind(kind)
    _check_fields(p, _SEND_FIELDS)
    if "to" not in p:
        raise invalid("to", "is required", MISSING)
    to = check_recipients("to", p["to"], settings.max_recipients, allow_empty=allow_empty_to)
    sender = check_send_sender(p.get("from"))
    body = check_body(p.get("body"), settings)
    send_at = check_datetime("send_at", p.get("send_at"))
    expire_at = check_schedule(send_at, check_datetime("expire_at", p.get("expire_at")), now_ms)
    text = MtText(
        to=to,
        sender=sender,
        body=body,
        parameters=check_parameters(p.get("parameters")),
        delivery_report=check_delivery_report(p.get("delivery_report")),
        callback_url=check_url("callback_url", p.get("callback_url")),
        client_reference=check_text("client_reference", p.get("client_reference"), MAX_CLIENT_REFERENCE),
        send_at_ms=send_at,
        expire_at_ms=expire_at,
        max_number_of_message_parts=check_int(
            "max_number_of_message_parts", p.get("max_number_of_message_parts"), 1, MAX_CONCAT_PARTS
        ),
        truncate_concat=check_bool("truncate_concat", p.get("truncate_concat")),
        flash_message=bool(check_bool("flash_message", p.get("flash_message"))),
        feedback_enabled=bool(check_bool("feedback_enabled", p.get("feedback_enabled"))),
        purpose=check_purpose(p.get("purpose")),
        collapse_key=check_text("collapse_key", p.get("collapse_key"), MAX_COLLAPSE_KEY),
        sender_ton=check_int("from_ton", p.get("from_ton"), 0, MAX_TON),
        sender_npi=check_int("from_npi", p.get("from_npi"), 0, MAX_NPI),
    )
    return text, _render_text(text, text.to)


def _check_binary_send(p: Mapping[str, Any], settings: Settings, now_ms: int,
                       allow_empty_to: bool = False) -> tuple[MtText, list[Rendered]]:
    """An `mt_binary` send (or replace, or dry run) body."""
    _check_fields(p, _BINARY_SEND_FIELDS)
    if "to" not in p:
        raise invalid("to", "is required", MISSING)
    to = check_recipients("to", p["to"], settings.max_recipients, allow_empty=allow_empty_to)
    sender = check_send_sender(p.get("from"))
    body = check_binary_body(p.get("body"))
    udh = check_udh(p.get("udh"))
    check_binary_size(body, udh)
    send_at = check_datetime("send_at", p.get("send_at"))
    expire_at = check_schedule(send_at, check_datetime("expire_at", p.get("expire_at")), now_ms)
    binary = MtBinary(
        to=to,
        sender=sender,
        body=body,
        parameters=None,
        delivery_report=check_delivery_report(p.get("delivery_report")),
        callback_url=check_url("callback_url", p.get("callback_url")),
        client_reference=check_text("client_reference", p.get("client_reference"), MAX_CLIENT_REFERENCE),
        send_at_ms=send_at,
        expire_at_ms=expire_at,
        max_number_of_message_parts=None,
        truncate_concat=None,
        flash_message=False,
        feedback_enabled=bool(check_bool("feedback_enabled", p.get("feedback_enabled"))),
        purpose=check_purpose(p.get("purpose")),
        sender_ton=check_int("from_ton", p.get("from_ton"), 0, MAX_TON),
        sender_npi=check_int("from_npi", p.get("from_npi"), 0, MAX_NPI),
        udh=udh,
    )
    return binary, render_accepted(binary, to)


@dataclass(frozen=True)
class UpdateRequest:
    """A validated partial update; `changes` holds only the fields the caller sent."""

    to_add: tuple[str, ...]
    to_remove: tuple[str, ...]
    changes: dict[str, Any]


def check_update(payload: object, settings: Settings, kind: str = MT_TEXT) -> UpdateRequest:
    """An update of a batch of `kind` (its stored type): the fields of that kind only, and a
    `type` that is absent or that same kind (an update changes a batch, a replace makes it anew)."""
    p = check_object(payload)
    asked = p.get("type")
    if asked is not None and asked != kind:
        if asked in (MT_TEXT, MT_BINARY):
            raise invalid("type", f"the batch is {kind}: an update cannot change its type (replace the batch)")
        raise _unknown_kind(asked)
    binary = kind == MT_BINARY
    _check_fields(p, _BINARY_UPDATE_FIELDS if binary else _UPDATE_FIELDS)
    to_add = check_recipients("to_add", p.get("to_add", []), settings.max_recipients, allow_empty=True)
    to_remove = check_recipients("to_remove", p.get("to_remove", []), settings.max_recipients, allow_empty=True)
    changes: dict[str, Any] = {}
    checks = {
        "from": ("sender", check_sender),
        "body": ("body", lambda v: check_body(v, settings)),
        "parameters": ("parameters", check_parameters),
        "delivery_report": ("delivery_report", check_delivery_report),
        "callback_url": ("callback_url", lambda v: check_url("callback_url", v)),
        "client_reference": ("client_reference", lambda v: check_text("client_reference", v, MAX_CLIENT_REFERENCE)),
        "send_at": ("send_at_ms", lambda v: check_datetime("send_at", v)),
        "expire_at": ("expire_at_ms", lambda v: check_datetime("expire_at", v)),
        "max_number_of_message_parts": (
            "max_number_of_message_parts",
            lambda v: check_int("max_number_of_message_parts", v, 1, MAX_CONCAT_PARTS),
        ),
        "truncate_concat": ("truncate_concat", lambda v: check_bool("truncate_concat", v)),
        "flash_message": ("flash_message", lambda v: bool(check_bool("flash_message", v))),
        "feedback_enabled": ("feedback_enabled", lambda v: bool(check_bool("feedback_enabled", v))),
        "purpose": ("purpose", check_purpose),
        "collapse_key": ("collapse_key", lambda v: check_text("collapse_key", v, MAX_COLLAPSE_KEY)),
        "from_ton": ("sender_ton", lambda v: check_int("from_ton", v, 0, MAX_TON)),
        "from_npi": ("sender_npi", lambda v: check_int("from_npi", v, 0, MAX_NPI)),
    }
    if binary:
        checks["body"] = ("body", check_binary_body)
        checks["udh"] = ("udh", check_udh)
    for name, (attr, check) in checks.items():
        if name in p and p[name] is not None:
            changes[attr] = check(p[name])
    return UpdateRequest(to_add, to_remove, changes)


def apply_update(text: MtText, update: UpdateRequest, recipients: tuple[str, ...], now_ms: int, *,
                 explicit_expiry: bool = False) -> MtText:
    """The batch after the update, revalidated as a whole (schedule, parts).

    A new `send_at` without an `expire_at` keeps the batch's expire_at when the caller had set it
    (`explicit_expiry`) and it is still after the new `send_at` and at most 3 days later;
    otherwise the expiry is the default again, 3 days after the new `send_at`."""
    changes = dict(update.changes)
    if "expire_at_ms" in changes:
        changes["expire_at_ms"] = check_schedule(changes.get("send_at_ms", text.send_at_ms),
                                                 changes["expire_at_ms"], now_ms)
    elif "send_at_ms" in changes:
        send_at = changes["send_at_ms"]
        kept = text.expire_at_ms if explicit_expiry and _fits(send_at, text.expire_at_ms, now_ms) else None
        changes["expire_at_ms"] = check_schedule(send_at, kept, now_ms)
    updated = replace(text, to=recipients, **changes)
    if isinstance(updated, MtBinary):
        check_binary_size(updated.body, updated.udh)
    render_accepted(updated, recipients)
    return updated


def _fits(send_at_ms: int | None, expire_at_ms: int, now_ms: int) -> bool:
    """Whether `check_schedule` takes this expire_at with this send_at."""
    start = send_at_ms if send_at_ms is not None and send_at_ms > now_ms else now_ms
    return start < expire_at_ms <= start + MAX_EXPIRY_MS


# ---------------------------------------------------------------------------------------------
# Bodies per recipient


def parts_allowed(text: MtText, parts: int) -> int:
    """Parts sent for a body needing `parts`: all of them, or `max_number_of_message_parts` when
    `truncate_concat` cuts the body there. Without `truncate_concat`, a body needing more than
    that limit keeps its count: XMS accepts the batch and never sends that recipient's message,
    which ends Aborted with 411 (`exceeds_parts_limit`). Raises only for more than SMS
    concatenation can carry (255 parts)."""
    limit = min(text.max_number_of_message_parts or MAX_CONCAT_PARTS, MAX_CONCAT_PARTS)
    if parts <= limit:
        return parts
    if text.truncate_concat:
        return limit
    if parts <= MAX_CONCAT_PARTS:
        return parts
    raise invalid("body", f"needs {parts} parts, at most {MAX_CONCAT_PARTS} possible")


def exceeds_parts_limit(text: MtText, rendered: Rendered) -> bool:
    """Whether the recipient's message needs more parts than `max_number_of_message_parts`
    allows (and is not cut to them): it is never sent, but Aborted with 411."""
    limit = text.max_number_of_message_parts
    return limit is not None and rendered.parts > limit


def render_accepted(text: MtText, recipients: tuple[str, ...]) -> list[Rendered]:
    """Each recipient's body with its encoding and parts, also for the messages that exceed the
    batch's parts limit (`exceeds_parts_limit`). A binary batch is one part of 8-bit data for
    everyone, its body the Base64 payload."""
    if isinstance(text, MtBinary):
        return [Rendered(r, text.body, Encoding.BINARY, 1) for r in recipients]
    return _render_text(text, recipients)


def render_all(text: MtText, recipients: tuple[str, ...]) -> list[Rendered]:
    """`render_accepted`, raising if any message exceeds the batch's parts limit (a scheduled
    group expansion tells those members apart this way: `tidings.actions.scheduled_groups`)."""
    rendered = render_accepted(text, recipients)
    over = next((r for r in rendered if exceeds_parts_limit(text, r)), None)
    if over is not None:
        raise invalid("body", f"needs {over.parts} parts, max_number_of_message_parts is "
                              f"{text.max_number_of_message_parts}")
    return rendered


def _render_text(text: MtText, recipients: tuple[str, ...]) -> list[Rendered]:
    if not text.parameters or "${" not in text.body:
        count = count_segments(text.body)
        parts = parts_allowed(text, count.parts)
        return [Rendered(r, text.body, count.encoding, parts) for r in recipients]
    cache: dict[str, tuple[Encoding, int]] = {}
    out = []
    for recipient in recipients:
        body = render_body(text.body, text.parameters, recipient)
        found = cache.get(body)
        if found is None:
            count = count_segments(body)
            found = cache[body] = (count.encoding, parts_allowed(text, count.parts))
        out.append(Rendered(recipient, body, *found))
    return out


__all__ = [
    "DELIVERY_REPORTS",
    "MT_BINARY",
    "MT_TEXT",
    "MtBinary",
    "MtText",
    "Rendered",
    "UpdateRequest",
    "apply_update",
    "check_binary_body",
    "check_binary_size",
    "check_datetime",
    "check_msisdn",
    "check_send",
    "check_send_rendered",
    "check_udh",
    "check_update",
    "exceeds_parts_limit",
    "invalid",
    "render_accepted",
    "render_all",
    "sender_variants",
    "validate_numbers_in_slices",
]
