"""DKIM keys, one per sending domain, and the DNS records (SPF, DKIM, DMARC) to publish for them.

Keys live as PKCS#1 PEM files under `<key_dir>/<domain>/<selector>.pem`; the first call for a
domain without one generates an RSA-2048 key with a dated selector (`td20250301`). The newest file
is the active key. `sign()` prepends a `DKIM-Signature` (relaxed/relaxed, rsa-sha256) to a raw
message; `dns_records()` is what `tidings email dns-records` prints and what the sandbox console is
given.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["SIGNED_HEADERS", "DkimKey", "DkimKeys", "DnsRecord", "dns_records"]

KEY_BITS = 2048

SIGNED_HEADERS = (
    b"from", b"to", b"cc", b"reply-to", b"subject", b"date", b"message-id", b"in-reply-to",
    b"references", b"mime-version", b"content-type", b"list-unsubscribe",
    b"list-unsubscribe-post",
)
"""Headers covered by the signature (those present are signed; From always is)."""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes

    @property
    def public_key_b64(self) -> str:
        """The `p=` value: the DER SubjectPublicKeyInfo, base64."""
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    @property
    def txt_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_value(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_key_b64}"

    def sign(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature header in front."""
        signature = dkim.sign(
            raw,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h for h in SIGNED_HEADERS if _has_header(raw, h)],
        )
        return bytes(signature) + raw


def _has_header(raw: bytes, name: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line[:1] not in (b" ", b"\t") and line.split(b":", 1)[0].strip().lower() == name:
            return True
    return name == b"from"


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


class DkimKeys:
    """The signing key of each sending domain, from `key_dir` (generated on first use; kept in
    memory only when `key_dir` is None, as the sandbox does)."""

    def __init__(self, key_dir: str | os.PathLike[str] | None, *, generate: bool = True) -> None:
        self.key_dir = Path(key_dir) if key_dir is not None else None
        self.generate = generate
        self._keys: dict[str, DkimKey] = {}
        self._lock = threading.Lock()

    def key_for(self, domain: str) -> DkimKey:
        """The active key of `domain`; LookupError when there is none and `generate` is off."""
        domain = domain.lower().rstrip(".")
        cached = self._keys.get(domain)
        if cached is not None:
            return cached
        with self._lock:
            key = self._keys.get(domain) or self._load(domain) or self._create(domain)
            self._keys[domain] = key
            return key

    def _load(self, domain: str) -> DkimKey | None:
        if self.key_dir is None:
            return None
        folder = self.key_dir / domain
        files = sorted(folder.glob("*.pem")) if folder.is_dir() else []
        if not files:
            return None
        newest = files[-1]
        return DkimKey(domain, newest.stem, newest.read_bytes())

    def _create(self, domain: str) -> DkimKey:
        if not self.generate:
            raise LookupError(f"no DKIM key for {domain} in {self.key_dir}")
        selector = "td" + datetime.now(UTC).strftime("%Y%m%d")
        pem = generate_private_pem()
        if self.key_dir is None:
            return DkimKey(domain, selector, pem)
        folder = self.key_dir / domain
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{selector}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return DkimKey(domain, selector, pem)


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str  # "TXT" or "MX"
    value: str

    def zone_line(self) -> str:
        if self.type == "TXT":
            return f'{self.name}. 3600 IN TXT {_quoted_chunks(self.value)}'
        return f"{self.name}. 3600 IN {self.type} {self.value}"


def _quoted_chunks(value: str, size: int = 255) -> str:
    """A TXT value as 255-octet quoted strings (the DNS character-string limit)."""
    return " ".join(f'"{value[i:i + size]}"' for i in range(0, len(value), size))


def dns_records(
    key: DkimKey,
    *,
    spf_mechanisms: str = "ip4:127.0.0.1",
    dmarc_policy: str = "quarantine",
    dmarc_rua: str | None = None,
    mx_host: str | None = None,
) -> list[DnsRecord]:
    """SPF, DKIM and DMARC (and MX for bounces and replies when `mx_host` is given) for the
    sending domain of `key`."""
    dmarc = f"v=DMARC1; p={dmarc_policy}; adkim=r; aspf=r"
    if dmarc_rua:
        dmarc += f"; rua=mailto:{dmarc_rua}"
    records = [
        DnsRecord(key.domain, "TXT", f"v=spf1 {spf_mechanisms} -all"),
        DnsRecord(key.txt_name, "TXT", key.txt_value),
        DnsRecord(f"_dmarc.{key.domain}", "TXT", dmarc),
    ]
    if mx_host:
        records.append(DnsRecord(key.domain, "MX", f"10 {mx_host}."))
    return records
