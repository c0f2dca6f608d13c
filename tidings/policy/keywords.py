"""Inbound keywords: is a whole inbound message STOP, START, HELP (or one of their equivalents)?

Matching is on the whole message, after `normalize`: accents removed, case folded, everything
that is not a letter or digit dropped — so "Arrêt.", "arret" and " ARRET! " all match ARRET,
and "OPT-OUT" matches OPTOUT, but "stop sending me ads" matches nothing.

Kinds (`KeywordKind`):

    opt_out      STOP and its equivalents: opt out of every purpose on the channel it came in on
    opt_out_all  STOPALL: opt out of every purpose on every channel
    opt_in       START, UNSTOP, YES and equivalents: opt back in (and confirm a double opt-in)
    help         HELP, INFO and equivalents: answered with the help text

The default lists cover English, French, Spanish, German, Portuguese and Italian; each keyword
carries the language its confirmation is written in. A sender may add keywords, remove some, and
replace the confirmation texts (`KeywordConfig`, stored per project and sender by the ledger).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "DEFAULT_KEYWORDS",
    "DEFAULT_REPLIES",
    "KeywordConfig",
    "KeywordKind",
    "KeywordMatch",
    "match_keyword",
    "normalize",
]


class KeywordKind(str, Enum):
    OPT_OUT = "opt_out"
    OPT_OUT_ALL = "opt_out_all"
    OPT_IN = "opt_in"
    HELP = "help"


_K = KeywordKind
# keyword (as written) -> (kind, language of the confirmation). Written with accents where the
# language has them; `normalize` makes the accented and unaccented spellings the same key.
_DEFAULTS: list[tuple[str, KeywordKind, str]] = [
    # English
    *[(w, _K.OPT_OUT, "en") for w in ("STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE",
                                       "OPTOUT", "OPT OUT")],
    ("STOPALL", _K.OPT_OUT_ALL, "en"), ("STOP ALL", _K.OPT_OUT_ALL, "en"),
    *[(w, _K.OPT_IN, "en") for w in ("START", "UNSTOP", "YES", "SUBSCRIBE")],
    *[(w, _K.HELP, "en") for w in ("HELP", "INFO")],
    # French
    *[(w, _K.OPT_OUT, "fr") for w in ("ARRÊT", "ARRÊTER", "DÉSINSCRIPTION", "DÉSABONNER",
                                       "DÉSABONNEMENT", "ANNULER")],
    *[(w, _K.OPT_IN, "fr") for w in ("OUI", "DÉMARRER", "REPRENDRE")],
    ("AIDE", _K.HELP, "fr"),
    # Spanish
    *[(w, _K.OPT_OUT, "es") for w in ("BAJA", "ALTO", "DETENER", "CANCELAR", "DESUSCRIBIR",
                                       "FIN")],
    *[(w, _K.OPT_IN, "es") for w in ("SÍ", "ALTA", "COMENZAR")],
    ("AYUDA", _K.HELP, "es"),
    # German
    *[(w, _K.OPT_OUT, "de") for w in ("STOPP", "ABMELDEN", "ABBESTELLEN", "ENDE", "KÜNDIGEN")],
    *[(w, _K.OPT_IN, "de") for w in ("JA", "ANMELDEN")],
    ("HILFE", _K.HELP, "de"),
    # Portuguese ("CANCELAR" is read as Spanish above: same meaning)
    *[(w, _K.OPT_OUT, "pt") for w in ("PARAR", "SAIR", "DESCADASTRAR", "CANCELAR INSCRIÇÃO")],
    *[(w, _K.OPT_IN, "pt") for w in ("SIM", "INICIAR", "VOLTAR")],
    ("AJUDA", _K.HELP, "pt"),
    # Italian
    *[(w, _K.OPT_OUT, "it") for w in ("BASTA", "ANNULLA", "DISISCRIVI", "DISISCRIVIMI", "CANCELLA")],
    *[(w, _K.OPT_IN, "it") for w in ("ISCRIVI", "ISCRIVIMI", "INIZIA")],
    ("AIUTO", _K.HELP, "it"),
]

DEFAULT_REPLIES: Mapping[str, Mapping[KeywordKind, str]] = {
    "en": {
        _K.OPT_OUT: "You are unsubscribed and will receive no more messages from us here. Reply START to resubscribe.",
        _K.OPT_OUT_ALL: "You are unsubscribed from all our messages on every channel. Reply START to resubscribe.",
        _K.OPT_IN: "You are subscribed again. Reply STOP to unsubscribe, HELP for help.",
        _K.HELP: "Reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply.",
    },
    "fr": {
        _K.OPT_OUT: "Vous êtes désinscrit et ne recevrez plus nos messages ici. Répondez START pour vous réinscrire.",
        _K.OPT_OUT_ALL: "Vous êtes désinscrit de tous nos messages. Répondez START pour vous réinscrire.",
        _K.OPT_IN: "Vous êtes de nouveau inscrit. Répondez ARRET pour vous désinscrire, AIDE pour l'aide.",
        _K.HELP: "Répondez ARRET pour vous désinscrire, START pour vous réinscrire.",
    },
    "es": {
        _K.OPT_OUT: "Te has dado de baja y no recibirás más mensajes nuestros aquí. Responde ALTA para volver.",
        _K.OPT_OUT_ALL: "Te has dado de baja de todos nuestros mensajes. Responde ALTA para volver.",
        _K.OPT_IN: "Te has suscrito de nuevo. Responde BAJA para darte de baja, AYUDA para ayuda.",
        _K.HELP: "Responde BAJA para darte de baja, ALTA para volver a suscribirte.",
    },
    "de": {
        _K.OPT_OUT: "Sie sind abgemeldet und erhalten hier keine Nachrichten mehr. Antworten Sie START zum Anmelden.",
        _K.OPT_OUT_ALL: "Sie sind von allen unseren Nachrichten abgemeldet. Antworten Sie START zum Anmelden.",
        _K.OPT_IN: "Sie sind wieder angemeldet. Antworten Sie STOPP zum Abmelden, HILFE fur Hilfe.",
        _K.HELP: "Antworten Sie STOPP zum Abmelden, START zum Anmelden.",
    },
    "pt": {
        _K.OPT_OUT: "Você foi descadastrado e não receberá mais mensagens nossas aqui. Responda INICIAR para voltar.",
        _K.OPT_OUT_ALL: "Você foi descadastrado de todas as nossas mensagens. Responda INICIAR para voltar.",
        _K.OPT_IN: "Você está inscrito novamente. Responda SAIR para sair, AJUDA para ajuda.",
        _K.HELP: "Responda SAIR para sair, INICIAR para voltar a receber mensagens.",
    },
    "it": {
        _K.OPT_OUT: "Sei stato disiscritto e non riceverai altri messaggi qui. Rispondi ISCRIVI per tornare.",
        _K.OPT_OUT_ALL: "Sei stato disiscritto da tutti i nostri messaggi. Rispondi ISCRIVI per tornare.",
        _K.OPT_IN: "Sei di nuovo iscritto. Rispondi BASTA per disiscriverti, AIUTO per aiuto.",
        _K.HELP: "Rispondi BASTA per disiscriverti, ISCRIVI per tornare.",
    },
}


def normalize(text: str) -> str:
    """Accents off, case folded to upper, only letters and digits kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).upper()


DEFAULT_KEYWORDS: Mapping[str, tuple[KeywordKind, str]] = {
    normalize(word): (kind, lang) for word, kind, lang in reversed(_DEFAULTS)
}


@dataclass(frozen=True)
class KeywordMatch:
    kind: KeywordKind
    keyword: str  # normalised
    language: str
    reply: str | None  # the confirmation text to send back (None: send none)


@dataclass(frozen=True)
class KeywordConfig:
    """A sender's keyword settings. `extra`: kind -> more keywords; `removed`: keywords that are
    not keywords for this sender; `replies`: kind -> confirmation text (every language), "" for
    no confirmation; `enabled`: False turns keyword handling off for the sender."""

    extra: Mapping[KeywordKind, tuple[str, ...]] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()
    replies: Mapping[KeywordKind, str] = field(default_factory=dict)
    enabled: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> KeywordConfig:
        """From the stored/API JSON shape; ValueError on a malformed one."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("keyword settings must be an object")
        extra: dict[KeywordKind, tuple[str, ...]] = {}
        for kind, words in (data.get("extra") or {}).items():
            if not isinstance(words, list) or not all(isinstance(w, str) and normalize(w) for w in words):
                raise ValueError(f"extra.{kind} must be a list of keywords")
            extra[KeywordKind(kind)] = tuple(words)
        removed = data.get("removed") or []
        if not isinstance(removed, list) or not all(isinstance(w, str) for w in removed):
            raise ValueError("removed must be a list of keywords")
        replies: dict[KeywordKind, str] = {}
        for kind, text in (data.get("replies") or {}).items():
            if not isinstance(text, str) or len(text) > 1000:
                raise ValueError(f"replies.{kind} must be a text of at most 1000 characters")
            replies[KeywordKind(kind)] = text
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be a boolean")
        return cls(extra, frozenset(normalize(w) for w in removed), replies, enabled)

    def to_json(self) -> dict[str, Any]:
        return {
            "extra": {k.value: list(v) for k, v in self.extra.items()},
            "removed": sorted(self.removed),
            "replies": {k.value: v for k, v in self.replies.items()},
            "enabled": self.enabled,
        }


def match_keyword(text: str, config: KeywordConfig | None = None) -> KeywordMatch | None:
    """The keyword the whole message is, under the sender's `config`; None if it is none."""
    config = config or KeywordConfig()
    if not config.enabled or len(text) > 64:
        return None
    key = normalize(text)
    if not key or key in config.removed:
        return None
    found: tuple[KeywordKind, str] | None = None
    for kind, words in config.extra.items():
        if key in {normalize(w) for w in words}:
            found = (kind, "en")
            break
    if found is None:
        found = DEFAULT_KEYWORDS.get(key)
    if found is None:
        return None
    kind, lang = found
    if kind in config.replies:
        reply: str | None = config.replies[kind] or None
    else:
        reply = DEFAULT_REPLIES[lang][kind]
    return KeywordMatch(kind, key, lang, reply)
