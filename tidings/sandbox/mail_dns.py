"""The sandbox's DNS for mail: TXT and MX records per name, and the checks a receiving mail
server makes with them — DKIM key lookup, SPF (RFC 7208) and DMARC alignment (RFC 7489).

Nothing here touches the network: records are published through the sandbox console
(`PUT /sandbox/v1/dns/{name}`) the way an operator publishes them at a DNS host, and dkimpy is
handed `MailDns.dkim_txt` as its `dnsfunc`. MX records carry a port (the sandbox's mail hosts
listen on free ports of 127.0.0.1).

SPF supports `ip4`, `ip6` (with prefixes), `a`, `mx`, `include`, `all`, `redirect=` and the
qualifiers `+ - ~ ?`; A lookups of host names answer 127.0.0.1 for `localhost` and for any name
with an MX here, so `a`/`mx` mechanisms work for sandbox hosts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MailDns", "MxHost", "SpfResult", "check_spf", "dmarc_aligned", "organizational_domain"]

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror"]

_QUALIFIERS: dict[str, SpfResult] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MAX_LOOKUPS = 10  # RFC 7208 4.6.4


@dataclass(frozen=True, order=True)
class MxHost:
    preference: int
    host: str
    port: int = 25


@dataclass
class _Name:
    txt: list[str] = field(default_factory=list)
    mx: list[MxHost] = field(default_factory=list)
    a: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


class MailDns:
    """TXT, MX and A records by name."""

    def __init__(self) -> None:
        self._names: dict[str, _Name] = {}

    def publish(self, name: str, *, txt: list[str] | None = None, mx: list[MxHost] | None = None,
                a: list[str] | None = None) -> None:
        """Replace the given record types of `name` (None leaves a type as it is)."""
        entry = self._names.setdefault(_norm(name), _Name())
        if txt is not None:
            entry.txt = list(txt)
        if mx is not None:
            entry.mx = sorted(mx)
        if a is not None:
            entry.a = list(a)

    def remove(self, name: str) -> None:
        self._names.pop(_norm(name), None)

    def txt(self, name: str) -> list[str]:
        entry = self._names.get(_norm(name))
        return list(entry.txt) if entry else []

    def mx(self, domain: str) -> list[MxHost]:
        entry = self._names.get(_norm(domain))
        return list(entry.mx) if entry else []

    def a(self, host: str) -> list[str]:
        host = _norm(host)
        entry = self._names.get(host)
        if entry and entry.a:
            return list(entry.a)
        if host == "localhost" or (entry and entry.mx) or any(
            m.host == host for e in self._names.values() for m in e.mx
        ):
            return ["127.0.0.1"]
        return []

    def records(self, name: str) -> dict[str, object]:
        entry = self._names.get(_norm(name)) or _Name()
        return {
            "name": _norm(name),
            "txt": list(entry.txt),
            "mx": [{"preference": m.preference, "host": m.host, "port": m.port} for m in entry.mx],
            "a": list(entry.a),
        }

    def dkim_txt(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's `dnsfunc`: the TXT record at `name` (e.g. b"sel._domainkey.example.com.")."""
        del timeout
        records = self.txt(name.decode("ascii", "replace"))
        dkim_records = [r for r in records if "p=" in r]
        return dkim_records[0].encode("ascii") if dkim_records else None


def _spf_record(dns: MailDns, domain: str) -> str | None:
    found = [r for r in dns.txt(domain) if r.lower().startswith("v=spf1")]
    if len(found) != 1:
        return None if not found else "permerror"
    return found[0]


def _in_network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, spec: str, default_len: int) -> bool:
    try:
        network = ipaddress.ip_network(spec if "/" in spec else f"{spec}/{default_len}", strict=False)
    except ValueError:
        return False
    return ip.version == network.version and ip in network


def check_spf(dns: MailDns, ip: str, domain: str) -> SpfResult:
    """The SPF result for mail from `ip` with MAIL FROM (or HELO) domain `domain`."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "permerror"
    lookups = [0]
    return _evaluate(dns, address, _norm(domain), lookups)


def _evaluate(dns: MailDns, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str,
              lookups: list[int]) -> SpfResult:
    record = _spf_record(dns, domain)
    if record is None:
        return "none"
    if record == "permerror":
        return "permerror"
    redirect: str | None = None
    for term in record.split()[1:]:
        if term.lower().startswith("redirect="):
            redirect = term.split("=", 1)[1]
            continue
        if "=" in term.split(":", 1)[0]:
            continue  # other modifiers (exp=) do not decide
        qualifier = _QUALIFIERS.get(term[0], None)
        mechanism = term[1:] if qualifier else term
        result = qualifier or "pass"
        name, _, arg = mechanism.partition(":")
        name = name.lower()
        if name in ("a", "mx", "include"):
            lookups[0] += 1
            if lookups[0] > _MAX_LOOKUPS:
                return "permerror"
        if name == "all":
            return result
        if name in ("ip4", "ip6") and _in_network(ip, arg, 32 if name == "ip4" else 128):
            return result
        if name == "a":
            target, _, prefix = (arg or domain).partition("/")
            if any(_in_network(ip, f"{a}/{prefix}" if prefix else a, 32) for a in dns.a(target)):
                return result
        if name == "mx":
            target = arg or domain
            hosts = [a for m in dns.mx(target) for a in dns.a(m.host)]
            if any(_in_network(ip, a, 32) for a in hosts):
                return result
        if name == "include":
            inner = _evaluate(dns, ip, _norm(arg), lookups)
            if inner == "pass":
                return result
            if inner in ("permerror", "none"):
                return "permerror"
    if redirect:
        lookups[0] += 1
        return _evaluate(dns, ip, _norm(redirect), lookups)
    return "neutral"


def organizational_domain(domain: str) -> str:
    """The last two labels (the sandbox has no public suffix list; `example.co.uk` style
    domains keep three)."""
    labels = _norm(domain).split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "org", "net", "ac", "gov"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def dmarc_aligned(from_domain: str, *, dkim_domain: str | None, dkim_pass: bool,
                  spf_domain: str | None, spf_pass: bool) -> bool:
    """Relaxed DMARC alignment: the From domain shares its organizational domain with a
    passing DKIM signature's d= or with the SPF-passing MAIL FROM domain."""
    org = organizational_domain(from_domain)
    if dkim_pass and dkim_domain and organizational_domain(dkim_domain) == org:
        return True
    return bool(spf_pass and spf_domain and organizational_domain(spf_domain) == org)
