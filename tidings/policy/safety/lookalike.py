"""Look-alike domains: which hosts pretend to be a brand they do not belong to.

A host is compared with a brand list (brands.json: commonly impersonated brands and the domains
they really use, plus the tenant's own domains, given per call) in three ways:

- homoglyphs: the host's *skeleton* equals a brand keyword's skeleton while the host itself is not
  the keyword ("pаypal" with a Cyrillic а, "paypa1", "amaz0n", "rn" for "m"). Characters from other scripts are
  mapped through the Unicode confusables table shipped by `confusable_homoglyphs`; accents are
  stripped; digits and letter pairs commonly swapped for letters use the table `_ASCII_LOOKALIKES`.
- typos: edit distance (optimal string alignment, `rapidfuzz`) of 1 from a keyword of at least 5
  characters, or 2 from one of at least 9 ("barcalys", "wellsfargos").
- combosquatting: a brand keyword appears as a whole token of a host it does not own
  ("royalmail-redelivery-fee.com", "paypal.com.cuenta-verificada.es").

A host is owned by a brand when its registrable domain, or a parent domain of it, is one of the
brand's domains.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from confusable_homoglyphs.confusables import confusables_data  # type: ignore[import-untyped]
from rapidfuzz import process
from rapidfuzz.distance import OSA

from tidings.policy.safety.links import Link, split_host

__all__ = ["Brand", "BrandIndex", "DomainMatch", "default_index", "skeleton"]

_WORD_RUN = re.compile(r"\w+")

# Look-alikes inside ASCII (digits and letter pairs read as letters). The confusables table covers
# other scripts; ASCII characters skip it because hosts arrive lowercased.
_ASCII_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_ASCII_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a"})

# Tokens too common in host names to stand for a brand on their own, even if a brand uses them.
_GENERIC_TOKENS = frozenset({
    "live", "office", "mail", "bank", "online", "secure", "service", "app", "info", "news", "shop",
    "home", "pay", "go", "my", "web", "support", "www", "com", "net", "org", "mobile", "group",
})


@lru_cache(maxsize=8192)
def _char_skeleton(ch: str) -> str:
    if ch.isascii():
        return ch.lower()
    for glyph in confusables_data.get(ch, ()):
        c = glyph["c"]
        if len(c) == 1 and c.isascii() and c.isalnum():
            return str(c).lower()
    stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return stripped.lower() if stripped.isascii() else ch.lower()


@lru_cache(maxsize=8192)
def skeleton(label: str) -> str:
    """What a host label looks like to a reader: "Pаypa1" (Cyrillic а) -> "paypal"."""
    out = "".join(_char_skeleton(ch) for ch in label)
    out = out.translate(_ASCII_LOOKALIKES)
    for pair, single in _ASCII_PAIRS:
        out = out.replace(pair, single)
    return out


def _fold(text: str) -> str:
    """Lowercase, no accents, letters and digits only: "Crédit Agricole" -> "creditagricole"."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class Brand:
    name: str
    domains: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    ambiguous: bool = False  # the name is an everyday word: it names the brand only as a sender prefix

    def owns(self, link: Link) -> bool:
        host = link.ascii_host
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _longest_first(alternatives: Iterable[str]) -> str:
    return "|".join(sorted(alternatives, key=len, reverse=True))


@dataclass(frozen=True)
class DomainMatch:
    kind: str  # "homoglyph" | "typo" | "brand_token"
    brand: Brand
    token: str  # the part of the host that matched


def _tokens(subdomain: str, domain: str) -> list[str]:
    """Host labels (suffix excluded), their hyphen-separated parts, and runs of adjacent parts joined."""
    labels = [lab for lab in (subdomain.split(".") if subdomain else []) + [domain] if lab]
    out: list[str] = []
    for label in labels:
        parts = [p for p in label.split("-") if p]
        out.append(label)
        out.append(label.replace("-", ""))
        for size in (1, 2, 3):
            out.extend("".join(parts[i:i + size]) for i in range(len(parts) - size + 1))
    return list(dict.fromkeys(t for t in out if t))


@dataclass(eq=False)
class BrandIndex:
    """Brands by keyword, ready to match hosts and text against."""

    brands: tuple[Brand, ...]
    _by_keyword: dict[str, Brand] = field(init=False, repr=False)
    _by_skeleton: dict[str, Brand] = field(init=False, repr=False)
    _typo_keywords: list[str] = field(init=False, repr=False)
    _by_domain: dict[str, Brand] = field(init=False, repr=False)
    _mention: re.Pattern[str] = field(init=False, repr=False)
    _first_words: frozenset[str] | None = field(init=False, repr=False)  # None: a name starts with no word
    _prefix: re.Pattern[str] = field(init=False, repr=False)
    _by_name: dict[str, Brand] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_keyword = {}
        for brand in self.brands:
            for kw in self._keywords(brand):
                self._by_keyword.setdefault(kw, brand)
        self._by_skeleton = {}
        for kw, brand in self._by_keyword.items():
            self._by_skeleton.setdefault(skeleton(kw), brand)
        self._typo_keywords = [k for k in self._by_keyword if len(k) >= 5]
        self._by_domain = {}
        for brand in self.brands:
            for domain in brand.domains:
                self._by_domain.setdefault(domain, brand)
        # One alternation for every brand name (and its capitals); ambiguous names only as a prefix.
        self._by_name = {}
        plain: set[str] = set()
        prefix: set[str] = set()
        for brand in self.brands:
            for name in (brand.name, *brand.names):
                for spelling in (name, name.upper()):
                    self._by_name.setdefault(spelling, brand)
                    (prefix if brand.ambiguous else plain).add(re.escape(spelling))
        self._mention = re.compile(rf"(?<![\w-])({_longest_first(plain)})(?![\w-])")
        # A name can only match where the text has its first word: a set lookup spares most texts the
        # alternation of every name (~17 µs on a 110-character text, ~2 µs for the lookup).
        firsts = [_WORD_RUN.match(name) for name in self._by_name]
        self._first_words = frozenset(m.group(0) for m in firsts if m) if all(firsts) else None
        self._prefix = re.compile(rf"^\s*({_longest_first(prefix)})\s*[:\-–]")

    @staticmethod
    def _keywords(brand: Brand) -> set[str]:
        out = {_fold(k) for k in brand.keywords}
        for domain in brand.domains:
            _sub, label, _ = split_host(domain)
            if len(label) >= 3:
                out.add(label.replace("-", ""))
        for name in (brand.name, *brand.names):
            if len(_fold(name)) >= 3:
                out.add(_fold(name))
        return {k for k in out if k and k not in _GENERIC_TOKENS}

    def with_tenant(self, tenant_domains: Iterable[str]) -> BrandIndex:
        domains = tuple(sorted({d.strip().lower().lstrip(".") for d in tenant_domains if d.strip()}))
        if not domains:
            return self
        return _with_tenant(self, domains)

    def owner(self, link: Link) -> Brand | None:
        """The brand whose domain (or a parent of it) the link's host is."""
        labels = link.ascii_host.split(".")
        for i in range(len(labels) - 1):
            brand = self._by_domain.get(".".join(labels[i:]))
            if brand is not None:
                return brand
        return None

    def mentioned(self, text: str) -> list[Brand]:
        """Brands the text names ("Your Royal Mail parcel", "HSBC:")."""
        found: list[Brand] = []
        if self._first_words is None or not self._first_words.isdisjoint(_WORD_RUN.findall(text)):
            found = [self._by_name[m.group(1)] for m in self._mention.finditer(text)]
        prefix = self._prefix.match(text)
        if prefix:
            found.insert(0, self._by_name[prefix.group(1)])
        return list(dict.fromkeys(found))

    def match_host(self, link: Link) -> DomainMatch | None:
        """The strongest way the link's host imitates a brand it does not belong to, if any."""
        if link.is_ip or self.owner(link) is not None:
            return None
        return _match_host(self, link.subdomain, link.domain)

    def _match_labels(self, subdomain: str, domain: str) -> DomainMatch | None:
        tokens = [t for t in _tokens(subdomain, domain) if len(t) >= 3]
        best: DomainMatch | None = None
        for token in tokens:
            if token in self._by_keyword:
                best = best or DomainMatch("brand_token", self._by_keyword[token], token)
            elif skeleton(token) in self._by_skeleton:
                return DomainMatch("homoglyph", self._by_skeleton[skeleton(token)], token)
        for token in tokens:
            if len(token) < 5 or token in self._by_keyword:
                continue
            hit = process.extractOne(token, self._typo_keywords, scorer=OSA.distance, score_cutoff=2)
            if hit is None:
                continue
            keyword, distance, _ = hit
            if distance == 1 or (distance == 2 and len(keyword) >= 9):
                return DomainMatch("typo", self._by_keyword[keyword], token)
        return best


@lru_cache(maxsize=4096)
def _match_host(index: BrandIndex, subdomain: str, domain: str) -> DomainMatch | None:
    """`BrandIndex.match_host` by the labels it reads, cached: a sender's links share a few hosts and
    the typo search costs tens of µs."""
    return index._match_labels(subdomain, domain)


@lru_cache(maxsize=256)
def _with_tenant(base: BrandIndex, domains: tuple[str, ...]) -> BrandIndex:
    tenant = Brand("your organisation", domains, names=())
    return BrandIndex((tenant, *base.brands))


def _load() -> tuple[Brand, ...]:
    raw = json.loads(resources.files("tidings.policy.safety").joinpath("brands.json").read_text("utf-8"))
    return tuple(Brand(b["name"], tuple(b["domains"]), tuple(b.get("keywords", ())), tuple(b.get("names", ())),
                       bool(b.get("ambiguous", False))) for b in raw["brands"])


@lru_cache(maxsize=1)
def default_index() -> BrandIndex:
    """The shipped brand list (tidings/policy/safety/brands.json)."""
    return BrandIndex(_load())
