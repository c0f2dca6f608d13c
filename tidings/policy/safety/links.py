"""Links in a message: URLs with or without a scheme, and what their hosts say about them.

Hosts are split into subdomain / registrable domain / public suffix by `tldextract` using only the
Public Suffix List snapshot it ships (no download, no cache directory: nothing touches the network
or the disk at run time). Bare domains ("paypa1.com/login") count as links only when their suffix
is a real public suffix, so "10.30" or "Dr.Smith" never do. Markdown (`[text](url)`) and HTML
(`<a href="url">text</a>`) anchors keep their display text, to compare it with the real target.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

import idna
import tldextract

__all__ = ["RISKY_TLDS", "SHORTENERS", "Link", "extract_links", "split_host"]

# Public link shorteners and redirectors: the real destination is hidden from the reader.
SHORTENERS = frozenset({
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
    "cutt.ly", "shorturl.at", "t.ly", "rb.gy", "tiny.cc", "bl.ink", "s.id", "v.gd", "qrco.de", "lnkd.in",
    "shorte.st", "adf.ly", "bit.do", "mcaf.ee", "su.pr", "soo.gd", "clck.ru", "x.co", "short.io",
    "urlz.fr", "l.ead.me", "shrtco.de", "tny.im", "2u.pm", "u.to", "kurzelinks.de", "0rz.tw", "sl.ink",
    "surl.li", "ln.run", "linktr.ee", "tinu.be", "han.gl", "me-qr.com", "t2m.io",
})

# Top-level domains that spam and phishing trackers (Spamhaus, Interisle) repeatedly rank worst for
# abuse relative to their size; legitimate senders rarely use them for transactional links.
RISKY_TLDS = frozenset({
    "top", "xyz", "icu", "click", "buzz", "online", "site", "website", "info", "live", "support",
    "cc", "cyou", "rest", "monster", "sbs", "cfd", "bond", "quest", "gq", "tk", "ml", "cf", "ga", "work",
    "loan", "win", "vip", "shop", "life", "fun", "space", "pw", "zip", "mov", "lol", "today", "best",
})

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                 include_psl_private_domains=True)

_TRAIL = ".,;:!?)]}>»\"'’”…"
_MARKDOWN = re.compile(r"\[([^\]\n]{1,200})\]\(\s*(\S+?)\s*\)")
_ANCHOR = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']([^\"']+)[\"'][^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SCHEME_URL = re.compile(r"\b(?:https?|hxxps?)://[^\s<>\"']+", re.IGNORECASE)
# host[:port][/path]: labels of letters/digits/hyphens (any script), at least one dot.
_BARE = re.compile(r"(?<![\w@/.-])((?:www\.)?(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?::\d{2,5})?)"
                   r"(/[^\s<>\"']*)?", re.UNICODE)
_DIGIT_DOT_DIGIT = re.compile(r"\d\.\d")
_DOT_LETTER = re.compile(r"\.[^\W\d_]")
_IPV4_HOST = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?::\d{2,5})?(/[^\s<>\"']*)?")


@dataclass(frozen=True)
class Link:
    url: str  # as written (trailing punctuation removed)
    host: str  # lowercase; IDN hosts in their Unicode form
    ascii_host: str  # lowercase; IDN hosts in punycode
    subdomain: str
    domain: str  # the label under the public suffix ("paypal" in "www.paypal.co.uk")
    suffix: str  # "co.uk"; "" for IP literals and unknown suffixes
    is_ip: bool
    is_punycode: bool  # the host has a label in IDNA form ("xn--") or written in non-ASCII
    has_userinfo: bool  # "https://paypal.com@evil.example/": the real host is after the @
    display: str | None = None  # anchor text when the link came from markdown or HTML

    @property
    def registered_domain(self) -> str:
        return f"{self.domain}.{self.suffix}" if self.domain and self.suffix else self.host

    @property
    def tld(self) -> str:
        return self.suffix.rsplit(".", 1)[-1]


@lru_cache(maxsize=4096)
def split_host(host: str) -> tuple[str, str, str]:
    """(subdomain, domain, suffix) of a lowercase host per the bundled Public Suffix List."""
    parts = _EXTRACT(host)
    return parts.subdomain, parts.domain, parts.suffix


def _ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _unicode_host(ascii_host: str) -> str:
    try:
        return idna.decode(ascii_host)
    except (idna.IDNAError, UnicodeError):
        return ascii_host


def _ascii_host(host: str) -> str:
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return host


def _link(url: str, display: str | None = None, *, need_suffix: bool = False) -> Link | None:
    url = url.rstrip(_TRAIL)
    target = url if re.match(r"^[a-z]+://", url, re.IGNORECASE) else "http://" + url
    target = re.sub(r"^hxxp", "http", target, flags=re.IGNORECASE)
    try:
        parts = urlsplit(target)
        raw_host = parts.hostname or ""
    except ValueError:
        return None
    if not raw_host:
        return None
    host = _host(raw_host.rstrip(".").lower())
    if need_suffix and not host.is_ip and not (host.suffix and host.domain):
        return None
    return Link(url, host.host, host.ascii_host, host.subdomain, host.domain, host.suffix, host.is_ip,
                host.is_punycode, parts.username is not None, display)


class _Host(NamedTuple):
    host: str
    ascii_host: str
    subdomain: str
    domain: str
    suffix: str
    is_ip: bool
    is_punycode: bool


@lru_cache(maxsize=4096)
def _host(raw_host: str) -> _Host:
    """What a lowercase host is made of; cached, as a sender's links mostly share a few hosts."""
    if _ip(raw_host):
        return _Host(raw_host, raw_host, "", "", "", True, False)
    # IDNA only changes hosts with a non-ASCII or punycode label ("xn--", any case after lower());
    # the library's checks cost ~20 µs a host, most messages' hosts need none of them.
    needs_idna = not raw_host.isascii() or "xn--" in raw_host
    ascii_host = _ascii_host(raw_host) if needs_idna else raw_host
    host = _unicode_host(ascii_host) if needs_idna else ascii_host
    punycode = not raw_host.isascii() or any(label.startswith("xn--") for label in ascii_host.split("."))
    sub, domain, suffix = split_host(ascii_host)
    return _Host(host, ascii_host, sub, _unicode_host(domain) if domain.startswith("xn--") else domain,
                 suffix, False, punycode)


@lru_cache(maxsize=2048)
def extract_links(text: str) -> tuple[Link, ...]:
    """Every link in `text`, in order of appearance, anchors first."""
    found: list[Link] = []
    spans: list[tuple[int, int]] = []

    def taken(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in spans)

    for m in _MARKDOWN.finditer(text):
        link = _link(m.group(2), m.group(1).strip())
        if link:
            found.append(link)
            spans.append(m.span())
    for m in _ANCHOR.finditer(text):
        link = _link(m.group(1), _TAG.sub("", m.group(2)).strip())
        if link:
            found.append(link)
            spans.append(m.span())
    for m in _SCHEME_URL.finditer(text):
        if not taken(*m.span()):
            link = _link(m.group(0))
            if link:
                found.append(link)
                spans.append(m.span())
    # The last two patterns try every word of the text; most texts lack what they need: a dot
    # between digits (an IPv4 address), a dot before a letter (a bare domain). ~10 µs spared on a
    # one-time code or a reminder without a link.
    for m in (_IPV4_HOST.finditer(text) if _DIGIT_DOT_DIGIT.search(text) else ()):
        if not taken(*m.span()) and (m.group(2) or m.group(0).count(":")) and _ip(m.group(1)):
            link = _link(m.group(0))
            if link:
                found.append(link)
                spans.append(m.span())
    for m in (_BARE.finditer(text) if _DOT_LETTER.search(text) else ()):
        if not taken(*m.span()):
            link = _link(m.group(0), need_suffix=True)
            if link:
                found.append(link)
                spans.append(m.span())
    return tuple(found)
