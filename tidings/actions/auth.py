"""Credentials: checking a project's access key, and issuing and verifying OAuth2 access tokens.

Access tokens are stateless: `{project_id}.{expiry_ms}.{signature}`, the signature an
HMAC-SHA256 over the first two parts with a server key kept in the `server_keys` table, so that
every API process of the distributed profile accepts every other one's tokens without a lookup.
Service plan API tokens are random and stored as hashes (see `tidings.core.secrets`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import weakref
from dataclasses import dataclass

from tidings.core.errors import AuthError
from tidings.core.ids import secret_token
from tidings.core.secrets import secret_matches
from tidings.store.db import Database
from tidings.store.queries import auth as q

SERVER_KEY_ID = "oauth-v1"
TOKEN_TYPE = "bearer"
SCOPE = ""

_server_keys: weakref.WeakKeyDictionary[Database, bytes] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str = SCOPE
    token_type: str = TOKEN_TYPE

    def as_dict(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "scope": self.scope,
            "token_type": self.token_type,
        }


@dataclass(frozen=True)
class VerifiedToken:
    project_id: str
    expires_ms: int


async def check_client_credentials(db: Database, key_id: str, key_secret: str) -> str:
    """The project owning this access key; AuthError if the key or secret is wrong."""
    async with db.read() as conn:
        row = await q.access_key(conn, key_id)
    if row is None or not secret_matches(key_secret, row.secret_hash):
        raise AuthError("Invalid client credentials")
    return str(row.project_id)


async def server_key(db: Database, now_ms: int) -> bytes:
    """The signing key, created in the database by the first process that needs it."""
    key = _server_keys.get(db)
    if key is None:
        secret = await q.get_or_create_server_key(db, SERVER_KEY_ID, secret_token(32), now_ms)
        key = secret.encode()
        _server_keys[db] = key
    return key


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(key: bytes, project_id: str, now_ms: int, ttl_seconds: int) -> IssuedToken:
    payload = f"{project_id}.{now_ms + ttl_seconds * 1000}"
    return IssuedToken(f"{payload}.{_signature(key, payload)}", ttl_seconds)


def looks_like_access_token(token: str) -> bool:
    return token.count(".") == 2


def verify_token(key: bytes, token: str, now_ms: int) -> VerifiedToken:
    """Check the signature, then the expiry (an expired token says so, for clients that refresh)."""
    try:
        project_id, expires, signature = token.split(".")
        expires_ms = int(expires)
    except ValueError:
        raise AuthError("Invalid access token") from None
    if not hmac.compare_digest(signature, _signature(key, f"{project_id}.{expires}")):
        raise AuthError("Invalid access token")
    if expires_ms <= now_ms:
        raise AuthError("Access token expired", expired=True)
    return VerifiedToken(project_id, expires_ms)


__all__ = [
    "IssuedToken",
    "VerifiedToken",
    "check_client_credentials",
    "issue_token",
    "looks_like_access_token",
    "server_key",
    "verify_token",
]
