"""Content safety: phishing signals, spam lint, health-information guard, and the evaluation set's figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tidings.policy import content_safety as cs
from tidings.policy.content_safety import (
    DEFAULT_PHI_CHANNELS,
    REASONS,
    WARNINGS,
    WEIGHTS,
    assess_inbound,
    assess_outbound,
    phi_channels,
)
from tidings.policy.safety import cues as cues_module
from tidings.policy.safety import links as links_module
from tidings.policy.safety import phi as phi_module
from tidings.policy.safety.links import extract_links
from tidings.policy.safety.lookalike import default_index, skeleton

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "content_safety_eval.jsonl"


def codes(findings: list[cs.Finding]) -> set[str]:
    return {f.code for f in findings}


def sms(text: str, **kw: object) -> cs.Verdict:
    return assess_outbound(text, channel="SMS", **kw)  # type: ignore[arg-type]


def test_public_names() -> None:
    assert set(cs.__all__) == {"BLOCK_THRESHOLD", "DEFAULT_PHI_CHANNELS", "REASONS", "WARNINGS", "WEIGHTS", "Finding",
                               "Verdict", "assess_inbound", "assess_outbound", "dry_run_warnings",
                               "phi_channels"}


def test_every_code_is_described_and_documented() -> None:
    assert set(WEIGHTS) | {"phishing_suspected", "health_info_channel_not_eligible"} == set(REASONS)
    doc = (ROOT / "docs" / "subsystems" / "content-safety.md").read_text("utf-8")
    for code in [*REASONS, *WARNINGS]:
        assert f"`{code}`" in doc, code


def test_suffix_list_comes_from_the_bundled_snapshot_only() -> None:
    extractor = links_module._EXTRACT
    assert tuple(extractor.suffix_list_urls) == ()
    assert extractor._cache.enabled is False
    assert extract_links("see https://shop.example.co.uk/x")[0].suffix == "co.uk"


# --- links ---------------------------------------------------------------------------------------

def test_link_extraction_finds_bare_domains_but_not_times_or_abbreviations() -> None:
    found = extract_links("Shop hartleys-home.co.uk/sale, at 10.30 with Dr.Smith, or see bit.ly/3x. And amazon.fr!")
    assert [link.host for link in found] == ["hartleys-home.co.uk", "bit.ly", "amazon.fr"]


def test_skeleton_maps_homoglyphs_and_digit_swaps() -> None:
    assert skeleton("pаypal") == "paypal"  # Cyrillic а
    assert skeleton("paypa1") == "paypal"
    assert skeleton("amaz0n") == "amazon"
    assert skeleton("rnonzo") == "monzo"
    assert skeleton("bаrсlаys") == skeleton("barclays")  # Cyrillic а and с


@pytest.mark.parametrize(("url", "kind", "brand"), [
    ("https://pаypal.com/login", "homoglyph", "PayPal"),
    ("http://amaz0n-orders.co/cancel", "homoglyph", "Amazon"),
    ("https://barcalys.co.uk", "typo", "Barclays"),
    ("https://royalmail-redelivery-fee.com/pay", "brand_token", "Royal Mail"),
    ("https://paypal.com.cuenta-verificada.es", "brand_token", "PayPal"),
])
def test_lookalike_hosts(url: str, kind: str, brand: str) -> None:
    match = default_index().match_host(extract_links(url)[0])
    assert match is not None
    assert (match.kind, match.brand.name) == (kind, brand)


@pytest.mark.parametrize("url", ["https://www.paypal.com/signin", "https://accounts.spotify.com/x",
                                 "https://track.dpd.co.uk/p/1", "kitewoodyoga.com", "maisonlumiere.fr"])
def test_real_and_unrelated_hosts_are_not_lookalikes(url: str) -> None:
    assert default_index().match_host(extract_links(url)[0]) is None


def test_tenant_domains_join_the_brand_list() -> None:
    text = "Your order is ready, pay the balance at https://acrnebikes-checkout.com"
    assert "lookalike_domain" not in codes(sms(text).reasons)
    verdict = sms(text, tenant_domains=["acmebikes.com"])
    assert "lookalike_domain" in codes(verdict.reasons)
    assert verdict.block
    own = sms("Your bike is ready! Pay the balance of 120 EUR at https://acmebikes.com/pay/81",
              tenant_domains=["acmebikes.com"])
    assert not own.block


@pytest.mark.parametrize(("text", "code"), [
    ("Confirm delivery: http://185.244.31.7/dhl", "ip_literal_url"),
    ("Sign in: https://www.paypal.com@login-check.example/x", "userinfo_url"),
    ("Claim it: https://xn--coinbse-30c.com/x", "punycode_host"),
    ("Details: tinyurl.com/abc", "link_shortener"),
    ("Offer at https://deals-now.top", "risky_tld"),
    ("Visit [www.hsbc.co.uk](https://hsbc-help.example.net/x)", "display_url_mismatch"),
    ('<a href="https://evil.example/x">www.netflix.com</a>', "display_url_mismatch"),
    ("HSBC: a new payee was added, check https://payee-check.example.com", "brand_link_mismatch"),
    ("Go to https://secure-verify-login.example.com", "deceptive_domain_words"),
])
def test_link_signals(text: str, code: str) -> None:
    assert code in codes(sms(text).reasons)


# --- text cues -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Reply with the 6-digit code we sent to unblock your card.",
    "Confirmez votre mot de passe ici.",
    "Introduzca los datos de su tarjeta para recibirlo.",
    "Bitte bestätigen Sie Ihre Kreditkartendaten.",
    "Confirme os dados do seu cartão para receber a encomenda.",
    "Conferma la tua password per continuare.",
])
def test_credential_requests_in_six_languages(text: str) -> None:
    assert "credential_request" in codes(sms(text).reasons)


@pytest.mark.parametrize("text", [
    "Your Google verification code is 482913. Don't share it with anyone.",
    "Use 6154 to log in. Never share this code.",
    "Ne le communiquez jamais, même à un conseiller : 739201.",
    "Código 553 810. No lo facilites a nadie.",
    "Dein Code lautet 270518. Teile ihn mit niemandem.",
    "O seu código é 551 920. Nunca partilhe este código com ninguém.",
    "Codice 6620. Non condividerlo con nessuno.",
])
def test_one_time_codes_are_not_phishing(text: str) -> None:
    verdict = sms(text)
    assert verdict.score == 0.0
    assert not verdict.block


def test_code_relay_and_family_impersonation_without_links_are_blocked() -> None:
    relay = sms("This is your bank's fraud team: to stop the transfer, tell me the code you will receive by SMS.")
    assert relay.block and "code_relay_request" in codes(relay.reasons)
    family = sms("Hi Mum, I broke my phone, this is my new number. Can you send me £300 today? It's urgent")
    assert family.block and "impersonation_money_request" in codes(family.reasons)


def test_blocking_phishing_reports_the_refusal_first() -> None:
    verdict = sms("Royal Mail: pay the £2.99 fee within 24 hours: https://royalmail-redelivery-fee.com/pay")
    assert verdict.block
    assert verdict.refusal is not None and verdict.refusal.code == "phishing_suspected"
    assert verdict.reasons[0] == verdict.refusal
    assert {"brand_in_domain", "payment_request", "urgency"} <= codes(verdict.reasons)
    assert 0.9 < verdict.score <= 1.0


def test_owned_links_damp_text_cues() -> None:
    real = sms("Netflix: your payment failed. Update your payment method at netflix.com/youraccount")
    assert not real.block and real.score < 0.5
    fake = sms("Netflix: your payment failed. Update your payment method at netflix-billing.example.org")
    assert fake.block


def test_threshold_is_a_parameter() -> None:
    text = "Your card is blocked. Call us."
    assert not sms(text).block
    assert sms(text, threshold=0.2).block


# --- spam lint -----------------------------------------------------------------------------------

def test_spam_lint_warns_without_blocking() -> None:
    verdict = sms("FLASH SALE!!! 70% OFF EVERYTHING TODAY ONLY - WIN a FREE gift 🎉🎉🎉🎉 $$$ bit.ly/x1")
    assert not verdict.block
    assert codes(verdict.warnings) == {"spam_excess_capitals", "spam_exclamations", "spam_shortened_link",
                                       "spam_emoji", "spam_currency_symbols", "spam_trigger_words"}


def test_spam_lint_is_quiet_on_plain_text() -> None:
    assert sms("Your table for 4 at Dishoom is confirmed for 7:30pm tonight. Running late? Let us know.").warnings == []


@pytest.mark.parametrize("text", ["Gagnez un séjour gratuit !", "Gana un viaje gratis", "Jetzt kostenlos gewinnen",
                                  "Ganhe um brinde grátis", "Vinci un buono gratuito"])
def test_trigger_words_in_other_languages(text: str) -> None:
    assert "spam_trigger_words" in codes(sms(text).warnings)


# --- health information --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Reminder: your chemotherapy session is on Tuesday at 9:00, Ward 4.",
    "Your HbA1c result is 7.9%, please book a review.",
    "Votre rendez-vous en oncologie est confirmé demain à 10h.",
    "Su resultado de la prueba de VIH está disponible.",
    "Ihr Rezept: Metformin 500 mg, zweimal täglich.",
    "Lembrete: a sua sessão de diálise é amanhã às 8h.",
    "Promemoria: visita di controllo in psichiatria giovedì alle 16.",
    "You were diagnosed with type 2 diabetes; the nurse will call you.",
])
def test_health_information_is_refused_on_sms_and_allowed_on_rcs(text: str) -> None:
    refused = sms(text)
    assert refused.block
    assert refused.refusal is not None and refused.refusal.code == "health_info_channel_not_eligible"
    allowed = assess_outbound(text, channel="rcs", phi_allowed_channels=DEFAULT_PHI_CHANNELS)
    assert not allowed.block
    assert "health_info_detected" in codes(allowed.warnings)


@pytest.mark.parametrize("text", [
    "Reminder: your dental check-up with Dr Patel is tomorrow at 9:40.",
    "Your prescription is ready to collect from Lloyds Pharmacy.",
    "Free HIV testing week at the Central Library, everyone welcome.",
    "Prep your garden for summer: 20% off compost.",
])
def test_plain_reminders_are_not_health_information(text: str) -> None:
    assert not sms(text).block


def test_tenant_setting_decides_eligible_channels() -> None:
    text = "Your test results are positive for chlamydia; please book a follow-up."
    assert phi_channels() == frozenset({"RCS"})
    assert sms(text, phi_allowed_channels=phi_channels(sms=True)).block is False
    assert assess_outbound(text, channel="EMAIL", phi_allowed_channels=phi_channels(sms=True)).block
    assert not assess_outbound(text, channel="whatsapp", phi_allowed_channels=phi_channels(whatsapp=True)).block


# --- inbound -------------------------------------------------------------------------------------

def test_inbound_is_never_blocked_but_is_marked_suspicious() -> None:
    verdict = assess_inbound("Acme support here: your account is locked, verify your password at https://acrne-help.top",
                             tenant_domains=["acme.com"])
    assert not verdict.block and verdict.refusal is None
    assert verdict.suspicious
    attached = verdict.as_json()
    assert attached["suspicious"] is True
    assert attached["reasons"][0]["code"] == "phishing_suspected"
    assert json.loads(json.dumps(attached)) == attached
    assert not assess_inbound("Thanks, see you Tuesday!").suspicious


# --- evaluation set ------------------------------------------------------------------------------

def _bench() -> object:
    spec = importlib.util.spec_from_file_location("content_safety_eval", ROOT / "bench" / "content_safety_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_evaluation_set_shape() -> None:
    rows = [json.loads(line) for line in DATA.read_text("utf-8").splitlines()]
    assert len(rows) >= 300
    assert {r["label"] for r in rows} == {"phishing", "legitimate"}
    assert {r["lang"] for r in rows} >= {"en", "fr", "es", "de", "pt", "it"}
    assert len({r["text"] for r in rows}) == len(rows)
    for lang in ("en", "fr", "es", "de", "pt", "it"):
        assert sum(r["lang"] == lang and r["label"] == "phishing" for r in rows) >= 15


def test_held_out_figures_meet_the_targets() -> None:
    bench = _bench()
    rows = bench.load(DATA)  # type: ignore[attr-defined]
    held = [r for r in rows if bench.held_out(r["text"])]  # type: ignore[attr-defined]
    assert 0.25 < len(held) / len(rows) < 0.42
    figures, _ = bench.evaluate(held)  # type: ignore[attr-defined]
    assert figures.precision >= 0.95
    assert figures.recall >= 0.90
    tuned, _ = bench.evaluate([r for r in rows if not bench.held_out(r["text"])])  # type: ignore[attr-defined]
    assert tuned.precision >= 0.95 and tuned.recall >= 0.90


def test_dry_run_warnings_merge_distinct_bodies() -> None:
    found = cs.dry_run_warnings(["BIG SALE!!! Shop now", "BIG SALE!!! Shop now", "Hello Ann",
                                 "Pay the £1.99 fee now: http://10.0.0.7/pay"])
    assert [f.code for f in found] == ["spam_exclamations", "phishing_suspected", "ip_literal_url", "payment_request"]
    assert cs.dry_run_warnings(["Hello"]) == []


# -- the word prefilter in front of the cue and PHI patterns -----------------------------------


def _unfiltered_cues(text: str) -> dict[str, str]:
    folded = cues_module.fold(text)
    found: dict[str, str] = {}
    for cue in cues_module.CUES:
        for m in cue.pattern.finditer(folded):
            if cue.negatable and cues_module._negated(folded, m.start(), m.end()):
                continue
            found[cue.code] = m.group(0).strip()
            break
    return found


def _unfiltered_phi(text: str) -> dict[str, str]:
    folded = cues_module.fold(text)
    found = {}
    for kind, pattern in (("diagnosis", phi_module._DIAGNOSIS), ("medication", phi_module._MEDICATION),
                          ("lab_result", phi_module._LAB), ("condition", phi_module._CONDITION)):
        m = pattern.search(folded)
        if m:
            found[kind] = m.group(0).strip()
    return found


def _phrase_soup(count: int) -> list[str]:
    """Texts strung together from the very word lists the patterns are built from, in every case
    and with assorted separators, so that nearly every pattern matches somewhere."""
    import random

    pool = [w for mod in (cues_module, phi_module) for name in dir(mod) if name.endswith("_WORDS")
            for w in getattr(mod, name)]
    filler = ("your the le el de il code you will receive within 24 hours pay 5 eur 10 mg 7.9% diagnosed "
              "with account suspended new number send me money . ! prescription tested positive").split()
    rnd = random.Random(20261126)
    out = []
    for _ in range(count):
        text = " ".join(rnd.choice(pool) if rnd.random() < 0.6 else rnd.choice(filler)
                        for _ in range(rnd.randint(2, 12)))
        if rnd.random() < 0.3:
            text = text.upper()
        if rnd.random() < 0.3:
            text = text.replace(" ", rnd.choice([", ", "-", "  ", ":"]))
        out.append(text)
    return out


def test_word_prefilter_never_hides_a_match() -> None:
    """The prefilter skips a pattern only when it cannot match: findings are those of running
    every pattern on every text."""
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines() if line.strip()]
    texts += _phrase_soup(8000)
    with_findings = 0
    for text in texts:
        expected_cues, expected_phi = _unfiltered_cues(text), _unfiltered_phi(text)
        assert cues_module.find_cues(text) == expected_cues, text
        assert phi_module.find_phi(text) == expected_phi, text
        with_findings += bool(expected_cues) + bool(expected_phi)
    assert with_findings > len(texts) // 2  # the texts do exercise the patterns


def test_fold_keeps_ascii_and_strips_accents() -> None:
    assert cues_module.fold("Vérifiez VOTRE Straße") == "verifiez votre strasse"
    assert cues_module.fold("Reply STOP") == "reply stop"


def test_gate_verdict_can_leave_out_the_spam_lint() -> None:
    text = "FREE PRIZE!!! CLICK NOW WINNER"
    assert codes(assess_outbound(text, channel="SMS").warnings) >= {"spam_exclamations", "spam_trigger_words"}
    assert assess_outbound(text, channel="SMS", spam_lint=False).warnings == []


def test_brand_mention_prefilter_never_hides_a_name() -> None:
    """`mentioned` skips the names' alternation when the text lacks every name's first word:
    the brands found are those of running the alternation on every text."""
    index = default_index()
    names = sorted(index._by_name)
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines() if line.strip()]
    texts += [f"Hello from {name}, see you" for name in names] + [f"{name}: your parcel" for name in names]
    texts += [f"x{name}" for name in names[:40]] + ["nothing to see here", ""]
    named = 0
    for text in texts:
        expected = list(dict.fromkeys(index._by_name[m.group(1)] for m in index._mention.finditer(text)))
        prefix = index._prefix.match(text)
        if prefix:
            expected = list(dict.fromkeys([index._by_name[prefix.group(1)], *expected]))
        assert index.mentioned(text) == expected, text
        named += bool(expected)
    assert named >= len(names)  # every name is found where the text carries it


def test_host_analysis_is_cached_by_host_and_keeps_idn_hosts() -> None:
    first = extract_links("Track it at https://Shop.Acme.co.uk/t/1")[0]
    again = extract_links("Your parcel: https://shop.acme.co.uk/t/2")[0]
    assert (first.host, first.domain, first.suffix, first.is_punycode) == ("shop.acme.co.uk", "acme", "co.uk", False)
    assert (again.host, again.domain) == (first.host, first.domain)
    idn = extract_links("https://xn--coinbse-30c.com/x and https://coinbȧse.com/y")
    assert [(link.host, link.ascii_host, link.is_punycode) for link in idn] == [
        ("coinbȧse.com", "xn--coinbse-30c.com", True), ("coinbȧse.com", "xn--coinbse-30c.com", True)]
    assert extract_links("http://192.168.0.1/login")[0].is_ip


# One example of every alternative of the cues that name the words they need by hand.
_HAND_LISTED_EXAMPLES = (
    # prize_lure
    "congratulations", "you've won", "you have won", "you have been selected", "winner", "prize", "reward",
    "félicitations", "vous avez gagné", "gagnez", "cadeau", "enhorabuena", "felicidades", "has ganado", "ganador",
    "premio", "glückwunsch", "gewonnen", "gewinnspiel", "parabéns", "ganhou", "premiado", "complimenti", "hai vinto",
    # urgency
    "within 24 hours", "within 2days", "in the next 12 h", "immediately", "urgent", "urgently", "right away",
    "final notice", "final reminder", "last warning", "expires today", "expire today", "sous 48h", "sous 2 heures",
    "dans les 24 heures", "immédiatement", "dernier avis", "dernière relance", "expire aujourd'hui", "en 24h",
    "en las próximas 48 horas", "antes de 24 horas", "inmediatamente", "urgente", "último aviso", "de inmediato",
    "caduca hoy", "innerhalb von 24 stunden", "sofort", "dringend", "letzte mahnung", "läuft heute ab", "umgehend",
    "frist: 3", "frist:3", "em até 24 horas", "nas próximas 24 horas", "imediatamente", "entro 24 ore", "subito",
    "ultimo avviso", "scade oggi", "in 24h", "in 2 hrs",
    # account_threat
    "your account has been suspended", "card locked", "line blocked", "access limited", "membership on hold",
    "subscription closed", "online banking frozen", "apple id disabled", "compte suspendu", "carte bloquée",
    "cuenta suspendida", "tarjeta bloqueada", "konto gesperrt", "zugang eingeschränkt", "conta bloqueada",
    "chave pix irregular", "cpf irregular", "conto sospeso", "carta bloccata", "abbonamento scade", "pratica sospesa",
    "avoid suspension", "éviter la coupure", "evitar el bloqueo", "vermeiden sie die sperrung", "evitare il blocco",
    "sperrung", "blockierung",
)


def test_hand_listed_cue_words_never_hide_a_match() -> None:
    """prize_lure, urgency and account_threat name their words by hand: every alternative's
    example, alone, in any case and inside other words' company, gives the unfiltered findings."""
    import random

    rnd = random.Random(11)
    filler = "your the order has shipped we will see you today at 9 card line 24h hours pay now".split()
    texts = list(_HAND_LISTED_EXAMPLES) + [e.upper() for e in _HAND_LISTED_EXAMPLES]
    for _ in range(4000):
        words = [rnd.choice(filler) for _ in range(rnd.randint(0, 8))]
        words.insert(rnd.randint(0, len(words)), rnd.choice(_HAND_LISTED_EXAMPLES))
        texts.append(" ".join(words) + rnd.choice(("", ".", "!", " now")))
    for text in texts:
        assert cues_module.find_cues(text) == _unfiltered_cues(text), text
    hits = {code for text in _HAND_LISTED_EXAMPLES for code in _unfiltered_cues(text)}
    assert hits >= {"prize_lure", "urgency", "account_threat"}
    missed = [e for e in _HAND_LISTED_EXAMPLES if not _unfiltered_cues(e)]
    assert missed == []  # every example does exercise its alternative


def test_link_prefilters_never_hide_a_link(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The IPv4 and bare-domain patterns run only on texts with a dot between digits or before a
    letter: the links found are those of running both on every text."""
    import random

    rnd = random.Random(5)
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines() if line.strip()]
    pieces = ["paypa1.com/login", "10.0.0.1:8080/x", "192.168.1.1", "www.example.co.uk", "Dr.Smith", "10.30",
              "e.ON", "bit.ly/abc", "xn--coinbse-30c.com", "coinbȧse.com", "münchen.de", "a.b", "1.2.3",
              "code: 123456.", "at 9.30 today", "https://shop.example.com/t", "mail me at x@y.org", "end."]
    for _ in range(3000):
        texts.append(" ".join(rnd.choice(pieces + ["word", "your", "parcel"]) for _ in range(rnd.randint(1, 8))))
    filtered = [links_module.extract_links.__wrapped__(text) for text in texts]
    monkeypatch.setattr(links_module, "_DIGIT_DOT_DIGIT", __import__("re").compile(""))
    monkeypatch.setattr(links_module, "_DOT_LETTER", __import__("re").compile(""))
    assert filtered == [links_module.extract_links.__wrapped__(text) for text in texts]
    assert sum(bool(found) for found in filtered) > len(texts) // 2  # the texts do carry links
