"""Validation of XMS group requests: `check_*` turn a decoded JSON body into a normalised
`GroupFields` (create, replace) or `GroupUpdate` (update) — numbers in E.164 without repeats,
group ids upper case — or raise a `RequestError` naming the field. Nothing here touches the
database: whether named groups exist is the action's to check (`tidings/actions/groups.py`).

Limits (docs/subsystems/api.md#groups): a name of 1 to 20 characters; at most `max_members`
different numbers in a request's `members`, `add` or `remove` (the action holds the group itself
to the same number); at most 10 child groups; keywords of one word, at most 32 characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tidings.actions.batch_checks import INVALID_FORMAT, MISSING, check_msisdn, check_object, invalid
from tidings.core.groups import AutoUpdate, Keywords, is_group_id
from tidings.store.groups_schema import MAX_KEYWORD, MAX_NAME

__all__ = [
    "MAX_CHILD_GROUPS",
    "GroupFields",
    "GroupUpdate",
    "check_group",
    "check_group_id",
    "check_group_update",
]

MAX_CHILD_GROUPS = 10
MAX_SHORT_CODE = 8  # digits; a longer number without "+" is read as an international number

_GROUP_FIELDS = frozenset({"name", "members", "child_groups", "auto_update"})
_UPDATE_FIELDS = frozenset({"add", "remove", "name", "add_from_group", "remove_from_group", "auto_update"})
_AUTO_UPDATE_FIELDS = frozenset({"to", "add", "remove"})
_KEYWORD_FIELDS = frozenset({"first_word", "second_word"})


@dataclass(frozen=True)
class GroupFields:
    """A create or replace body: everything a group is."""

    name: str | None
    members: tuple[str, ...]
    child_groups: tuple[str, ...]
    auto_update: AutoUpdate | None


@dataclass(frozen=True)
class GroupUpdate:
    """An update body. `name` applies only when `name_given` (an explicit null removes the
    name); `auto_update` holds the parts of it sent ("to", "add", "remove"), merged into the
    group's own."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    name: str | None = None
    name_given: bool = False
    add_from_group: str | None = None
    remove_from_group: str | None = None
    auto_update: dict[str, Any] = field(default_factory=dict)


def _check_fields(field_name: str | None, payload: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise invalid(f"{field_name}.{unknown[0]}" if field_name else unknown[0], "unknown field")


def check_group_id(field_name: str, raw: object) -> str:
    if not is_group_id(raw):
        raise invalid(field_name, f"not a group id: {raw!r}", INVALID_FORMAT)
    return str(raw).upper()


def check_name(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid("name", "must be a string", INVALID_FORMAT)
    if not 1 <= len(raw) <= MAX_NAME:
        raise invalid("name", f"must be 1 to {MAX_NAME} characters")
    return raw


def check_numbers(field_name: str, raw: object, max_members: int) -> tuple[str, ...]:
    """A list of phone numbers in E.164, without repeats (a repeat is ignored, not refused)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid(field_name, "must be a list of phone numbers", INVALID_FORMAT)
    numbers = tuple(dict.fromkeys(check_msisdn(f"{field_name}[{i}]", item) for i, item in enumerate(raw)))
    if len(numbers) > max_members:
        raise invalid(field_name, f"at most {max_members} numbers")
    return numbers


def check_child_groups(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("child_groups", "must be a list of group ids", INVALID_FORMAT)
    ids = tuple(dict.fromkeys(check_group_id(f"child_groups[{i}]", item) for i, item in enumerate(raw)))
    if len(ids) > MAX_CHILD_GROUPS:
        raise invalid("child_groups", f"at most {MAX_CHILD_GROUPS} child groups")
    return ids


def _check_word(field_name: str, raw: object, *, required: bool) -> str | None:
    if raw is None:
        if required:
            raise invalid(field_name, "is required", MISSING)
        return None
    if not isinstance(raw, str):
        raise invalid(field_name, "must be a string", INVALID_FORMAT)
    if not raw or len(raw.split()) != 1 or raw != raw.strip():
        raise invalid(field_name, "must be one word")
    if len(raw) > MAX_KEYWORD:
        raise invalid(field_name, f"at most {MAX_KEYWORD} characters")
    return raw


def check_keywords(field_name: str, raw: object) -> Keywords | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid(field_name, "must be an object with first_word and second_word", INVALID_FORMAT)
    _check_fields(field_name, raw, _KEYWORD_FIELDS)
    first = _check_word(f"{field_name}.first_word", raw.get("first_word"), required=True)
    assert first is not None
    return Keywords(first, _check_word(f"{field_name}.second_word", raw.get("second_word"), required=False))


def check_auto_update_to(raw: object) -> str:
    """A phone number (E.164) or a short code (3 to 8 digits, kept as given)."""
    if raw is None:
        raise invalid("auto_update.to", "is required", MISSING)
    if isinstance(raw, str) and raw.isdigit() and 3 <= len(raw) <= MAX_SHORT_CODE:
        return raw
    return check_msisdn("auto_update.to", raw)


def _auto_update_parts(raw: object) -> dict[str, Any]:
    """The parts of an auto_update object that were sent (not null), checked."""
    if not isinstance(raw, dict):
        raise invalid("auto_update", "must be an object with to, add and remove", INVALID_FORMAT)
    _check_fields("auto_update", raw, _AUTO_UPDATE_FIELDS)
    parts: dict[str, Any] = {}
    if raw.get("to") is not None:
        parts["to"] = check_auto_update_to(raw["to"])
    for name in ("add", "remove"):
        if raw.get(name) is not None:
            parts[name] = check_keywords(f"auto_update.{name}", raw[name])
    return parts


def check_auto_update(raw: object) -> AutoUpdate | None:
    if raw is None:
        return None
    parts = _auto_update_parts(raw)
    if "to" not in parts:
        raise invalid("auto_update.to", "is required", MISSING)
    return AutoUpdate(parts["to"], parts.get("add"), parts.get("remove"))


def check_group(payload: object, max_members: int) -> GroupFields:
    """A create or replace body; fields left out are empty."""
    p = check_object(payload)
    _check_fields(None, p, _GROUP_FIELDS)
    return GroupFields(
        name=check_name(p.get("name")),
        members=check_numbers("members", p.get("members"), max_members),
        child_groups=check_child_groups(p.get("child_groups")),
        auto_update=check_auto_update(p.get("auto_update")),
    )


def check_group_update(payload: object, max_members: int) -> GroupUpdate:
    """An update body. Fields left out or null change nothing, except `name`: null removes it
    (XMS's rule; the Sinch SDK sends every field it was not given as null)."""
    p = check_object(payload)
    _check_fields(None, p, _UPDATE_FIELDS)
    add_from = p.get("add_from_group")
    remove_from = p.get("remove_from_group")
    return GroupUpdate(
        add=check_numbers("add", p.get("add"), max_members),
        remove=check_numbers("remove", p.get("remove"), max_members),
        name=check_name(p.get("name")),
        name_given="name" in p,
        add_from_group=check_group_id("add_from_group", add_from) if add_from is not None else None,
        remove_from_group=check_group_id("remove_from_group", remove_from) if remove_from is not None else None,
        auto_update=_auto_update_parts(p["auto_update"]) if p.get("auto_update") is not None else {},
    )
