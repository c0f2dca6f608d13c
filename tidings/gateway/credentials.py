"""New SMPP accounts: one per service plan, created with the project.

SMPP 3.4 caps a system_id at 15 characters and a password at 8 (C-octet strings of 16 and 9
octets), so the password is short by necessity: 8 characters from a 62-letter alphabet (~47
bits), stored only as a hash; a refused bind closes the connection, so guessing costs a TCP
connection per try.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from tidings.core.secrets import hash_secret
from tidings.smpp.fields import PASSWORD_MAX, SYSTEM_ID_MAX

__all__ = ["DEFAULT_MAX_BINDS", "DEFAULT_THROUGHPUT", "DEFAULT_WINDOW", "SmppCredentials", "account_row",
           "new_credentials"]

DEFAULT_WINDOW = 50
"""submit_sm a bind may have in progress at once."""
DEFAULT_THROUGHPUT = 100
"""submit_sm per second per bind."""
DEFAULT_MAX_BINDS = 4
"""Binds an account may have at once, across gateway processes (Sinch allows 2 by default; the
throughput cap is per bind, so this caps the account's too)."""
SYSTEM_ID_PREFIX = "tdg"
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SmppCredentials:
    system_id: str
    password: str


def new_credentials() -> SmppCredentials:
    suffix = secrets.token_hex((SYSTEM_ID_MAX - len(SYSTEM_ID_PREFIX)) // 2)
    password = "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_MAX))
    return SmppCredentials(SYSTEM_ID_PREFIX + suffix, password)


def account_row(creds: SmppCredentials, project_id: str, service_plan_id: str, now_ms: int, *,
                window: int = DEFAULT_WINDOW, throughput: int = DEFAULT_THROUGHPUT,
                max_binds: int = DEFAULT_MAX_BINDS) -> dict[str, Any]:
    return {
        "system_id": creds.system_id, "project_id": project_id, "service_plan_id": service_plan_id,
        "password_hash": hash_secret(creds.password), "window": window, "throughput": throughput,
        "max_binds": max_binds, "allowed_networks": None,
        "bound_ms": None, "created_ms": now_ms,
    }
