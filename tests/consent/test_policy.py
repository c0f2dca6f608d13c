"""The pure decisions: may_send's matrix, key resolution, Sinch lists, keyword matching."""

from __future__ import annotations

import pytest

from tidings.policy.consent import (
    ALL,
    CONSENT_MISSING,
    CONSENT_OPTED_OUT,
    PURPOSES,
    REASON_CODES,
    SYSTEM,
    ConsentEntry,
    ConsentRules,
    Status,
    check_purpose,
    effective_status,
    may_send,
    sinch_list_key,
)
from tidings.policy.keywords import DEFAULT_REPLIES, KeywordConfig, KeywordKind, match_keyword, normalize


def e(channel: str, purpose: str, opted_in: bool, at: int) -> ConsentEntry:
    return ConsentEntry(channel, purpose, opted_in, at, at)


OPT_IN_ALL = [e("SMS", ALL, True, 1)]
OUT_ENGAGEMENT = [e("SMS", "engagement", False, 1)]
OUT_INFORMATION = [e("SMS", "information", False, 1)]
OUT_EVERYTHING = [e("SMS", ALL, False, 1)]
OUT_EVERYWHERE = [e(ALL, ALL, False, 1)]

# state -> allowed per purpose (engagement, information, security, satisfaction), opt-in regime
MATRIX = [
    ("unknown", [], [False, True, True, True]),
    ("opted in to all", OPT_IN_ALL, [True, True, True, True]),
    ("opted in to engagement", [e("SMS", "engagement", True, 1)], [True, True, True, True]),
    ("opted out of engagement", OUT_ENGAGEMENT, [False, True, True, True]),
    ("opted out of information", OUT_INFORMATION, [False, False, True, True]),
    ("opted out of everything on SMS", OUT_EVERYTHING, [False, False, False, False]),
    ("opted out of everything everywhere", OUT_EVERYWHERE, [False, False, False, False]),
    ("STOPALL then START on SMS", [e(ALL, ALL, False, 1), e("SMS", ALL, True, 2)], [True, True, True, True]),
    ("START then STOPALL", [e("SMS", ALL, True, 1), e(ALL, ALL, False, 2)], [False, False, False, False]),
    ("opted out of everything on WhatsApp only", [e("WHATSAPP", ALL, False, 1)], [False, True, True, True]),
    ("opt-out of all then opt-in to engagement", [e("SMS", ALL, False, 1), e("SMS", "engagement", True, 2)],
     [True, False, False, False]),
]


@pytest.mark.parametrize(("name", "state", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_decision_matrix(name: str, state: list[ConsentEntry], expected: list[bool]) -> None:
    got = [may_send(state, purpose, "SE", channel="SMS").allowed for purpose in PURPOSES]
    assert got == expected


def test_reasons_and_codes() -> None:
    missing = may_send([], "engagement", "SE")
    assert (missing.allowed, missing.reason_code, missing.xms_code) == (False, CONSENT_MISSING, 486)
    out = may_send(OUT_EVERYTHING, "security", "SE")
    assert (out.reason_code, out.xms_code, out.status) == (CONSENT_OPTED_OUT, 485, Status.OPTED_OUT)
    assert may_send(OUT_EVERYWHERE, SYSTEM, "SE").allowed  # confirmations always go
    assert set(REASON_CODES) == {CONSENT_MISSING, CONSENT_OPTED_OUT}


def test_opt_out_regime_countries() -> None:
    rules = ConsentRules(frozenset({"GB"}))
    assert may_send([], "engagement", "GB", rules=rules).allowed
    assert not may_send([], "engagement", "SE", rules=rules).allowed
    assert not may_send(OUT_ENGAGEMENT, "engagement", "GB", rules=rules).allowed
    assert not may_send([], "engagement", None, rules=rules).allowed


def test_effective_status_takes_the_latest_applicable_key() -> None:
    state = [e(ALL, ALL, False, 5), e("SMS", "engagement", True, 3), e("EMAIL", ALL, True, 9)]
    assert effective_status(state, "SMS", "engagement") is Status.OPTED_OUT
    assert effective_status(state, "EMAIL", "engagement") is Status.OPTED_IN
    assert effective_status([], "SMS", "information") is Status.UNKNOWN
    # same millisecond: the later event (higher id) wins
    tie = [ConsentEntry("SMS", ALL, False, 7, 1), ConsentEntry("SMS", ALL, True, 7, 2)]
    assert effective_status(tie, "SMS", "information") is Status.OPTED_IN


def test_sinch_lists_and_purposes() -> None:
    assert sinch_list_key("OPT_OUT_ALL") == ALL
    assert sinch_list_key("OPT_OUT_MARKETING") == "engagement"
    assert sinch_list_key("OPT_OUT_NOTIFICATION") == "information"
    with pytest.raises(KeyError):
        sinch_list_key("OPT_OUT_SOMETHING")
    assert check_purpose(" Engagement ") == "engagement"
    assert check_purpose("*", allow_all=True) == ALL
    with pytest.raises(ValueError):
        check_purpose("*")
    with pytest.raises(ValueError):
        check_purpose(SYSTEM)


KEYWORDS = [
    # (text, kind, language)
    ("STOP", KeywordKind.OPT_OUT, "en"), ("stop", KeywordKind.OPT_OUT, "en"), (" Stop. ", KeywordKind.OPT_OUT, "en"),
    ("Unsubscribe", KeywordKind.OPT_OUT, "en"), ("END", KeywordKind.OPT_OUT, "en"),
    ("quit!", KeywordKind.OPT_OUT, "en"), ("CANCEL", KeywordKind.OPT_OUT, "en"),
    ("revoke", KeywordKind.OPT_OUT, "en"), ("OPT-OUT", KeywordKind.OPT_OUT, "en"), ("optout", KeywordKind.OPT_OUT, "en"),
    ("STOPALL", KeywordKind.OPT_OUT_ALL, "en"), ("Stop all", KeywordKind.OPT_OUT_ALL, "en"),
    ("START", KeywordKind.OPT_IN, "en"), ("unstop", KeywordKind.OPT_IN, "en"), ("Yes", KeywordKind.OPT_IN, "en"),
    ("HELP", KeywordKind.HELP, "en"), ("info?", KeywordKind.HELP, "en"),
    ("ARRÊT", KeywordKind.OPT_OUT, "fr"), ("arret", KeywordKind.OPT_OUT, "fr"),
    ("Désinscription", KeywordKind.OPT_OUT, "fr"), ("DESINSCRIPTION", KeywordKind.OPT_OUT, "fr"),
    ("oui", KeywordKind.OPT_IN, "fr"), ("AIDE", KeywordKind.HELP, "fr"),
    ("BAJA", KeywordKind.OPT_OUT, "es"), ("alto", KeywordKind.OPT_OUT, "es"), ("Cancelar", KeywordKind.OPT_OUT, "es"),
    ("Sí", KeywordKind.OPT_IN, "es"), ("ALTA", KeywordKind.OPT_IN, "es"), ("ayuda", KeywordKind.HELP, "es"),
    ("STOPP", KeywordKind.OPT_OUT, "de"), ("Abmelden", KeywordKind.OPT_OUT, "de"), ("Kündigen", KeywordKind.OPT_OUT, "de"),
    ("JA", KeywordKind.OPT_IN, "de"), ("Hilfe", KeywordKind.HELP, "de"),
    ("PARAR", KeywordKind.OPT_OUT, "pt"), ("sair", KeywordKind.OPT_OUT, "pt"), ("SIM", KeywordKind.OPT_IN, "pt"),
    ("Ajuda", KeywordKind.HELP, "pt"),
    ("BASTA", KeywordKind.OPT_OUT, "it"), ("Annulla", KeywordKind.OPT_OUT, "it"),
    ("DISISCRIVI", KeywordKind.OPT_OUT, "it"), ("iscrivi", KeywordKind.OPT_IN, "it"), ("AIUTO", KeywordKind.HELP, "it"),
]


@pytest.mark.parametrize(("text", "kind", "lang"), KEYWORDS)
def test_keywords_in_six_languages(text: str, kind: KeywordKind, lang: str) -> None:
    match = match_keyword(text)
    assert match is not None
    assert (match.kind, match.language) == (kind, lang)
    assert match.reply == DEFAULT_REPLIES[lang][kind]


@pytest.mark.parametrize("text", ["stop sending me ads", "please stop", "Hello", "", "...", "STOP " * 20, "stopped"])
def test_only_whole_messages_are_keywords(text: str) -> None:
    assert match_keyword(text) is None


def test_per_sender_configuration() -> None:
    config = KeywordConfig.from_json({
        "extra": {"opt_out": ["NO MORE"], "help": ["WHAT"]},
        "removed": ["info", "END"],
        "replies": {"opt_out": "Bye from Acme.", "help": ""},
    })
    assert match_keyword("no more!", config).kind is KeywordKind.OPT_OUT  # type: ignore[union-attr]
    assert match_keyword("no more!", config).reply == "Bye from Acme."  # type: ignore[union-attr]
    assert match_keyword("STOP", config).reply == "Bye from Acme."  # type: ignore[union-attr]
    assert match_keyword("INFO", config) is None
    assert match_keyword("end", config) is None
    help_ = match_keyword("what", config)
    assert help_ is not None and help_.kind is KeywordKind.HELP and help_.reply is None
    assert KeywordConfig.from_json(config.to_json()) == config
    assert match_keyword("STOP", KeywordConfig(enabled=False)) is None
    with pytest.raises(ValueError):
        KeywordConfig.from_json({"extra": {"opt_out": "STOP"}})
    with pytest.raises(ValueError):
        KeywordConfig.from_json({"extra": {"nonsense": ["X"]}})


def test_normalize() -> None:
    assert normalize(" Arrêt ! ") == "ARRET"
    assert normalize("Opt-Out") == "OPTOUT"
    assert normalize("Désinscription") == "DESINSCRIPTION"
