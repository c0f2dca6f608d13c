"""Groups of recipients (XMS groups): what a group id looks like, a group's auto_update keywords,
and whether an inbound message's words match them. Pure; the tables are in
`tidings/store/groups_schema.py`, the SQL in `tidings/store/groups.py`.

A group id is a ULID (26 Crockford base32 characters), as a batch id is, so a `to` entry that is
one cannot be a phone number (E.164 has at most 15 digits and no letters).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import phonenumbers

__all__ = ["AutoUpdate", "Keywords", "is_group_id", "keyword_action", "member_number"]

_GROUP_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}", re.IGNORECASE)


def is_group_id(raw: object) -> bool:
    """Whether `raw` has the shape of a group id (not whether such a group exists)."""
    return isinstance(raw, str) and len(raw) == 26 and _GROUP_ID.fullmatch(raw) is not None


@dataclass(frozen=True)
class Keywords:
    """The words an inbound message starts with to join (or leave) a group: `first_word`, and
    `second_word` too when set (a shared short code: brand keyword, then JOIN)."""

    first_word: str
    second_word: str | None = None

    def matches(self, words: list[str]) -> bool:
        if not words or words[0] != _fold(self.first_word):
            return False
        if self.second_word is None:
            return True
        return len(words) > 1 and words[1] == _fold(self.second_word)


@dataclass(frozen=True)
class AutoUpdate:
    """A group's `auto_update`: MO to `to` whose words match `add` adds its sender, `remove`
    removes it."""

    to: str
    add: Keywords | None = None
    remove: Keywords | None = None


def _fold(word: str) -> str:
    return word.strip(string.punctuation).casefold()


def keyword_action(body: str, auto: AutoUpdate) -> tuple[bool, bool]:
    """(add, remove): which of the group's keywords the message matches. Words compare without
    regard to case or surrounding punctuation ("join!" is JOIN); words after those the keywords
    name are ignored ("JOIN please")."""
    words = [_fold(w) for w in body.split(maxsplit=2)[:2]]
    add = auto.add is not None and auto.add.matches(words)
    remove = auto.remove is not None and auto.remove.matches(words)
    return add, remove


def member_number(sender: str) -> str | None:
    """An inbound message's sender as a group member: its E.164 number, or None when it is not
    an international number (an alphanumeric sender, a national one without its country)."""
    if not sender.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(sender, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
