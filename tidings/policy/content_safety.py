"""Content safety: phishing/smishing score, spam lint and health-information guard for a message.

`assess_outbound(text, tenant_domains=…, channel=…, phi_allowed_channels=…)` decides whether a
message may leave; `assess_inbound(text, tenant_domains=…)` describes a message a contact sent (it
is never refused: its findings are attached to the conversation). Both return a `Verdict`:

    block      outbound only: the message must be refused; `refusal` is the status reason
    score      0..1, how much the message looks like phishing (noisy-OR of the signal weights)
    reasons    (code, detail) for every phishing signal found, and the refusal first when blocked
    warnings   (code, detail) that never block: spam lint, health information on an eligible channel

Reason codes (docs/subsystems/content-safety.md explains each and its weight):

    phishing_suspected               refusal: score >= threshold (default 0.5)
    health_info_channel_not_eligible refusal: PHI on a channel not marked eligible for it
    lookalike_domain                 a host imitates a brand's domain (homoglyphs, typos)
    brand_in_domain                  a brand's name inside a host the brand does not own
    brand_link_mismatch              the text names a brand, the link goes elsewhere
    display_url_mismatch             a link's visible text shows another domain than its target
    ip_literal_url                   a link to a bare IP address
    userinfo_url                     "https://brand.com@other.host/": the real host hides after an @
    punycode_host                    an internationalised (IDN / punycode) host
    link_shortener                   a public shortener hides the destination
    risky_tld                        a top-level domain heavily used for abuse
    deceptive_domain_words           "secure", "verify", "login", "refund"… in an unknown host
    credential_request               asks for a code, password, PIN, card or bank details
    code_relay_request               asks for "the code you will receive" (a person, not a service)
    details_request                  asks to confirm or update personal details or an address
    payment_request                  asks to pay a fee, duty, fine or a sum
    refund_lure                      promises a refund or rebate to claim
    prize_lure                       announces a prize or reward
    impersonation_money_request      "new number" + money request (family impersonation)
    urgency                          time pressure ("within 24 hours", "immédiatement", "sofort")
    account_threat                   account, card or line suspended, blocked or limited

Warning codes: spam_excess_capitals, spam_exclamations, spam_shortened_link, spam_emoji,
spam_currency_symbols, spam_trigger_words (tidings.policy.safety.spam), health_info_detected.

Channels are the Conversation API's names ("SMS", "RCS", "WHATSAPP", "EMAIL"…), any case. By
default only RCS may carry health information; `phi_channels(sms=True)` builds a tenant's set.
Everything here is pure and cached per distinct input, so a batch to many recipients pays once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from tidings.policy.safety.cues import find_cues
from tidings.policy.safety.links import RISKY_TLDS, SHORTENERS, Link, extract_links
from tidings.policy.safety.lookalike import BrandIndex, default_index
from tidings.policy.safety.phi import find_phi
from tidings.policy.safety.spam import SPAM_CODES, lint

__all__ = [
    "BLOCK_THRESHOLD",
    "DEFAULT_PHI_CHANNELS",
    "REASONS",
    "WARNINGS",
    "WEIGHTS",
    "Finding",
    "Verdict",
    "assess_inbound",
    "assess_outbound",
    "dry_run_warnings",
    "phi_channels",
]

BLOCK_THRESHOLD = 0.5
DEFAULT_PHI_CHANNELS: frozenset[str] = frozenset({"RCS"})

PHISHING_SUSPECTED = "phishing_suspected"
HEALTH_INFO_NOT_ELIGIBLE = "health_info_channel_not_eligible"
HEALTH_INFO_DETECTED = "health_info_detected"

# Signal -> weight: the probability-like strength each signal adds on its own.
WEIGHTS: Mapping[str, float] = {
    "lookalike_domain": 0.85,
    "userinfo_url": 0.75,
    "display_url_mismatch": 0.8,
    "ip_literal_url": 0.7,
    "impersonation_money_request": 0.7,
    "brand_in_domain": 0.6,
    "code_relay_request": 0.6,
    "credential_request": 0.45,
    "punycode_host": 0.45,
    "brand_link_mismatch": 0.35,
    "payment_request": 0.35,
    "refund_lure": 0.35,
    "risky_tld": 0.3,
    "deceptive_domain_words": 0.3,
    "prize_lure": 0.3,
    "account_threat": 0.3,
    "urgency": 0.25,
    "details_request": 0.2,
    "link_shortener": 0.2,
}
# Cues in the text weigh half as much when every link goes to a domain the brand or tenant owns:
# a real bank may well say "update your payment details", but only phishing sends you elsewhere.
OWNED_LINKS_DAMPING = 0.5
_TEXT_SIGNALS = frozenset({"credential_request", "code_relay_request", "details_request", "payment_request", "refund_lure",
                           "prize_lure", "urgency", "account_threat", "impersonation_money_request"})

REASONS: Mapping[str, str] = {
    PHISHING_SUSPECTED: "the message looks like phishing",
    HEALTH_INFO_NOT_ELIGIBLE: "health information on a channel not eligible for it",
    "lookalike_domain": "a link's domain imitates a brand's domain",
    "brand_in_domain": "a brand's name inside a domain the brand does not own",
    "brand_link_mismatch": "the message names a brand but links elsewhere",
    "display_url_mismatch": "a link's visible text shows another domain than its target",
    "ip_literal_url": "a link to a bare IP address",
    "userinfo_url": "a link whose real host hides after an @",
    "punycode_host": "a link to an internationalised (punycode) domain",
    "link_shortener": "a shortened link hides its destination",
    "risky_tld": "a link under a top-level domain heavily used for abuse",
    "deceptive_domain_words": "security or payment words in an unknown domain",
    "credential_request": "asks for a code, password, PIN or card or bank details",
    "code_relay_request": "asks the reader to pass on a code they are about to receive",
    "details_request": "asks to confirm or update personal details",
    "payment_request": "asks to pay a fee, duty or fine",
    "refund_lure": "promises a refund to claim",
    "prize_lure": "announces a prize or reward",
    "impersonation_money_request": "a 'new number' asking for money",
    "urgency": "puts the reader under time pressure",
    "account_threat": "threatens a suspended, blocked or limited account",
}
WARNINGS: Mapping[str, str] = {
    "spam_excess_capitals": "too many capitals",
    "spam_exclamations": "too many exclamation marks",
    "spam_shortened_link": "a shortened link",
    "spam_emoji": "too many emoji",
    "spam_currency_symbols": "too many currency symbols",
    "spam_trigger_words": "words spam filters weigh",
    HEALTH_INFO_DETECTED: "health information (allowed on this channel)",
}
assert set(SPAM_CODES) <= set(WARNINGS)

_DECEPTIVE_WORDS = (
    "secure", "security", "verify", "verif", "login", "signin", "account", "update", "billing", "refund",
    "confirm", "unlock", "restore", "auth", "validat", "wallet", "recover", "customs", "redeliver", "securite",
    "compte", "paiement", "rembours", "frais", "seguridad", "seguro", "cuenta", "pago", "reembolso", "devoluc",
    "cobro", "sicher", "konto", "zahlung", "gebuehr", "rueckerstatt", "erstattung", "seguranca", "conta",
    "pagamento", "sicurezza", "pagament", "rimborso", "conto", "sblocco", "aggiorna", "entsperr", "dogana",
    "douane", "aduana", "zoll", "taxa", "tasse", "multa", "amende", "fine", "fee", "pay", "payment",
)
# Words of fewer than 6 letters count only as a whole host token ("pay" in "secure-pay", not in "paypal").


class Finding(NamedTuple):
    code: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    block: bool
    score: float
    reasons: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    threshold: float = BLOCK_THRESHOLD

    @property
    def refusal(self) -> Finding | None:
        """The status reason when blocked (reasons[0]): phishing_suspected or health_info_channel_not_eligible."""
        return self.reasons[0] if self.block else None

    @property
    def suspicious(self) -> bool:
        """The phishing score reached the threshold (inbound verdicts never block, but can be suspicious)."""
        return self.score >= self.threshold

    def as_json(self) -> dict[str, Any]:
        """The verdict as JSON, e.g. to attach to an inbound message or a delivery's status."""
        return {
            "block": self.block,
            "score": self.score,
            "suspicious": self.suspicious,
            "reasons": [{"code": f.code, "detail": f.detail} for f in self.reasons],
            "warnings": [{"code": f.code, "detail": f.detail} for f in self.warnings],
        }


def phi_channels(*, rcs: bool = True, sms: bool = False, email: bool = False, whatsapp: bool = False,
                 extra: Iterable[str] = ()) -> frozenset[str]:
    """A tenant's channels eligible for health information (default: RCS only)."""
    chosen = {"RCS": rcs, "SMS": sms, "EMAIL": email, "WHATSAPP": whatsapp}
    return frozenset({name for name, on in chosen.items() if on} | {c.upper() for c in extra})


def _is_shortener(link: Link) -> bool:
    return link.registered_domain in SHORTENERS or link.host in SHORTENERS


def _link_signals(links: tuple[Link, ...], index: BrandIndex, text: str) -> tuple[dict[str, str], bool]:
    """Signals from links, and whether every link goes to a domain a brand or the tenant owns."""
    signals: dict[str, str] = {}

    def add(code: str, detail: str) -> None:
        signals.setdefault(code, detail)

    owned_all = bool(links)
    mentioned = index.mentioned(text) if links else []
    for link in links:
        owner = None if link.is_ip else index.owner(link)
        if owner is None:
            owned_all = False
        if link.display is not None:
            shown = extract_links(link.display)
            if shown and all(s.registered_domain != link.registered_domain for s in shown):
                add("display_url_mismatch", f"shows {shown[0].host}, goes to {link.host}")
        if link.has_userinfo:
            add("userinfo_url", f"{link.url}: the real host is {link.host}")
        if link.is_ip:
            add("ip_literal_url", link.host)
        if owner is not None:
            continue
        if mentioned and not any(b.owns(link) for b in mentioned):
            add("brand_link_mismatch", f"names {mentioned[0].name}, links to {link.host}")
        if _is_shortener(link):
            add("link_shortener", link.host)
            continue
        if link.is_ip:
            continue
        if link.is_punycode:
            add("punycode_host", f"{link.ascii_host} ({link.host})")
        if link.tld in RISKY_TLDS:
            add("risky_tld", f".{link.tld} in {link.host}")
        hit = index.match_host(link)
        if hit is not None:
            if hit.kind == "brand_token":
                add("brand_in_domain", f"{link.host} uses {hit.brand.name}'s name")
            else:
                add("lookalike_domain", f"{link.host} imitates {hit.brand.name} ({hit.kind})")
        labels = f"{link.subdomain}.{link.domain}"
        tokens = set(labels.replace("-", ".").split("."))
        joined = labels.replace("-", "")
        words = [w for w in _DECEPTIVE_WORDS if (w in joined if len(w) >= 6 else w in tokens)]
        if words:
            add("deceptive_domain_words", f"{', '.join(words[:3])} in {link.host}")
    return signals, owned_all


def _score(signals: Mapping[str, str], owned_links: bool) -> float:
    keep = 1.0
    for code in signals:
        weight = WEIGHTS[code] * (OWNED_LINKS_DAMPING if owned_links and code in _TEXT_SIGNALS else 1.0)
        keep *= 1.0 - weight
    return round(1.0 - keep, 3)


@lru_cache(maxsize=4096)
def _analyse(text: str, tenant_domains: tuple[str, ...]) -> tuple[float, tuple[Finding, ...], tuple[Finding, ...]]:
    """(score, phishing signals, PHI findings) of a text."""
    index = default_index().with_tenant(tenant_domains)
    links = extract_links(text)
    signals, owned = _link_signals(links, index, text)
    for code, words in find_cues(text).items():
        signals.setdefault(code, f'"{words}"')
    ordered = sorted(signals.items(), key=lambda kv: -WEIGHTS[kv[0]])
    phi = tuple(Finding(kind, f'"{words}"') for kind, words in find_phi(text).items())
    return _score(signals, owned), tuple(Finding(c, d) for c, d in ordered), phi


@lru_cache(maxsize=4096)
def _spam(text: str) -> tuple[Finding, ...]:
    return tuple(Finding(code, detail) for code, detail in lint(text, extract_links(text)))


def _domains(tenant_domains: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({d.strip().lower() for d in tenant_domains if d and d.strip()}))


def assess_outbound(text: str, *, tenant_domains: Iterable[str] = (), channel: str,
                    phi_allowed_channels: Collection[str] = DEFAULT_PHI_CHANNELS,
                    threshold: float = BLOCK_THRESHOLD, spam_lint: bool = True) -> Verdict:
    """May `text` be sent on `channel`? Blocks phishing and health information on ineligible channels.

    `spam_lint=False` leaves the spam lint's warnings out: a send path that only needs the
    refusal saves that work (it never blocks)."""
    score, signals, phi = _analyse(text, _domains(tenant_domains))
    reasons = list(signals)
    warnings = list(_spam(text)) if spam_lint else []
    block = False
    if phi:
        detail = "; ".join(f"{f.code}: {f.detail}" for f in phi)
        if channel.upper() in {c.upper() for c in phi_allowed_channels}:
            warnings.append(Finding(HEALTH_INFO_DETECTED, detail))
        else:
            reasons.insert(0, Finding(HEALTH_INFO_NOT_ELIGIBLE, f"{channel.upper()} is not eligible; {detail}"))
            block = True
    if score >= threshold:
        reasons.insert(0, Finding(PHISHING_SUSPECTED, f"score {score:.2f} >= {threshold:.2f}"))
        block = True
    return Verdict(block, score, reasons, warnings, threshold)


def assess_inbound(text: str, *, tenant_domains: Iterable[str] = (), threshold: float = BLOCK_THRESHOLD) -> Verdict:
    """What a contact's message looks like: never blocked; `suspicious` and the reasons describe it.

    Inbound smishing often impersonates the tenant itself, hence `tenant_domains`."""
    score, signals, phi = _analyse(text, _domains(tenant_domains))
    reasons = list(signals)
    if score >= threshold:
        reasons.insert(0, Finding(PHISHING_SUSPECTED, f"score {score:.2f} >= {threshold:.2f}"))
    warnings = list(_spam(text))
    if phi:
        warnings.append(Finding(HEALTH_INFO_DETECTED, "; ".join(f"{f.code}: {f.detail}" for f in phi)))
    return Verdict(False, score, reasons, warnings, threshold)


def dry_run_warnings(bodies: Iterable[str], *, channel: str = "SMS", tenant_domains: Iterable[str] = (),
                     phi_allowed_channels: Collection[str] = DEFAULT_PHI_CHANNELS) -> list[Finding]:
    """What a dry run tells the sender about its bodies: spam lint and PHI warnings, and the refusal
    (with the signals behind it) a real send would meet. Deduplicated, in order."""
    out: dict[Finding, None] = {}
    domains = tuple(tenant_domains)
    for body in dict.fromkeys(bodies):
        verdict = assess_outbound(body, tenant_domains=domains, channel=channel,
                                  phi_allowed_channels=phi_allowed_channels)
        for finding in (*verdict.warnings, *(verdict.reasons if verdict.block else ())):
            out.setdefault(finding, None)
    return list(out)
