"""One-time codes: generated with `secrets`, stored only as a keyed hash, checked in constant time.

The hash is HMAC-SHA256(server key, verification id + ":" + code), so a dump of the database
reveals no code and a code cannot be looked up across verifications. Flash calls carry their
code in the caller id: `cli_prefix` + the code's digits; `cli_filter` is the regular expression
the client matches incoming calls with.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "DEFAULT_ALPHABET",
    "cli_filter",
    "code_from_cli",
    "flash_cli",
    "generate",
    "hash_code",
    "matches",
]

DEFAULT_ALPHABET = "0123456789"
MIN_LENGTH = 4
MAX_LENGTH = 12


def generate(length: int, alphabet: str = DEFAULT_ALPHABET) -> str:
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"code length must be {MIN_LENGTH} to {MAX_LENGTH}")
    if len(set(alphabet)) < 2 or len(set(alphabet)) != len(alphabet):
        raise ValueError("alphabet needs at least two distinct characters, none repeated")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_code(key: bytes, verification_id: str, code: str) -> str:
    return hmac.new(key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def matches(key: bytes, verification_id: str, code: str, stored_hash: str) -> bool:
    """Constant-time comparison of a reported code with the stored hash."""
    return hmac.compare_digest(hash_code(key, verification_id, code), stored_hash)


def flash_cli(prefix: str, code: str) -> str:
    """The caller id of a flash call: the prefix (E.164, with "+") followed by the code digits."""
    return prefix + code


def cli_filter(prefix: str, length: int) -> str:
    """A regular expression matching every caller id `flash_cli(prefix, <length digits>)`."""
    return "^\\+?" + re.escape(prefix.lstrip("+")) + f"\\d{{{length}}}$"


def code_from_cli(prefix: str, length: int, cli: str) -> str | None:
    """The code carried by a reported caller id, or None if it is not one of ours."""
    digits = re.sub(r"[\s\-()]", "", cli).lstrip("+")
    bare = prefix.lstrip("+")
    if len(digits) != len(bare) + length or not digits.startswith(bare) or not digits.isdigit():
        return None
    return digits[len(bare):]
