"""Identifiers: time-ordered ULIDs (as Sinch uses for batch ids) and random secrets.

A ULID is 48 bits of milliseconds and 80 random bits in Crockford base32; ten lines do it, so
no dependency is taken for it.
"""

from __future__ import annotations

import os
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def secret_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def hex_id(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)
