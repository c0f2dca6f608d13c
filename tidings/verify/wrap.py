"""Application secrets kept wrapped with a server key (the HMAC check needs the secret itself).

    wrapped = "v1." base64(secret XOR keystream) "." base64(tag)
    keystream = HMAC-SHA256(server key, "wrap:" app_key ":" counter) blocks
    tag       = HMAC-SHA256(server key, "tag:" app_key ":" ciphertext)[:16]

Each application key is used once, so its keystream is a one-time pad derived from the server
key (kept in `server_keys`, apart from the verification tables): a dump of the applications
table alone does not reveal any secret, and a wrapped secret copied to another application key
does not unwrap (the tag binds it to its key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["WrapError", "unwrap", "wrap"]


class WrapError(ValueError):
    pass


def _keystream(server_key: bytes, app_key: str, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hmac.new(server_key, f"wrap:{app_key}:{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return out[:length]


def _tag(server_key: bytes, app_key: str, ciphertext: bytes) -> bytes:
    return hmac.new(server_key, b"tag:" + app_key.encode() + b":" + ciphertext, hashlib.sha256).digest()[:16]


def wrap(server_key: bytes, app_key: str, secret_b64: str) -> str:
    raw = base64.b64decode(secret_b64)
    cipher = bytes(a ^ b for a, b in zip(raw, _keystream(server_key, app_key, len(raw)), strict=True))
    return "v1." + base64.b64encode(cipher).decode() + "." + base64.b64encode(_tag(server_key, app_key, cipher)).decode()


def unwrap(server_key: bytes, app_key: str, wrapped: str) -> str:
    try:
        version, cipher_b64, tag_b64 = wrapped.split(".")
        cipher = base64.b64decode(cipher_b64)
        tag = base64.b64decode(tag_b64)
    except ValueError as exc:
        raise WrapError("malformed wrapped secret") from exc
    if version != "v1" or not hmac.compare_digest(tag, _tag(server_key, app_key, cipher)):
        raise WrapError("wrapped secret does not belong to this key")
    raw = bytes(a ^ b for a, b in zip(cipher, _keystream(server_key, app_key, len(cipher)), strict=True))
    return base64.b64encode(raw).decode()
