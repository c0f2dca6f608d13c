"""The spam lint: what makes carriers' filters and readers take a message for spam.

Findings are warnings, never refusals: a sender sees them in dry runs and may send anyway.

    spam_excess_capitals    most letters are capitals, or several words are shouted
    spam_exclamations       "!!" or more than two exclamation marks
    spam_shortened_link     a public link shortener hides where the link goes
    spam_emoji              more than three emoji
    spam_currency_symbols   three or more currency symbols, or "$$"
    spam_trigger_words      words spam filters weigh ("FREE", "WIN", "gratuit", "gratis", "kostenlos" …)
"""

from __future__ import annotations

import re

import emoji

from tidings.policy.safety.cues import fold
from tidings.policy.safety.links import SHORTENERS, Link

__all__ = ["SPAM_CODES", "lint"]

SPAM_CODES = ("spam_excess_capitals", "spam_exclamations", "spam_shortened_link", "spam_emoji",
              "spam_currency_symbols", "spam_trigger_words")

_WORD = re.compile(r"[^\W\d_]{4,}")
_CURRENCY = re.compile(r"[$€£¥₹₽₩₺]")
_TRIGGERS = re.compile(
    r"\b(?:free|win|winner|won|cash|prize|guaranteed|risk[- ]free|act now|click here|100% free|no cost|"
    r"gratuit|gratuite|gagnez|gagner|gagnant|cadeau offert|gratis|ganar|gana|ganador|regalo|kostenlos|gratis|"
    r"gewinnen|gewinner|gewinnspiel|gratuito|gratuita|ganhe|ganhar|vencedor|brinde|vinci|vincere|vincitore|"
    r"omaggio)\b")


def _capitals(text: str) -> str | None:
    letters = sum(map(str.isalpha, text))  # map over a str method: no Python frame per character
    if letters >= 20:
        upper = sum(map(str.isupper, text))  # counts cased non-letters too ("Ⅻ", "Ⓐ"): recount if it matters
        if upper / letters > 0.5 and (upper := sum(c.isupper() and c.isalpha() for c in text)) / letters > 0.5:
            return f"{round(100 * upper / letters)}% of the letters are capitals"
    shouted = [w for w in _WORD.findall(text) if w.isupper()]
    if len(shouted) >= 3:
        return "words in capitals: " + ", ".join(shouted[:5])
    return None


def lint(text: str, links: tuple[Link, ...]) -> list[tuple[str, str]]:
    """(code, detail) for each spam trait of `text`."""
    out: list[tuple[str, str]] = []
    capitals = _capitals(text)
    if capitals:
        out.append(("spam_excess_capitals", capitals))
    bangs = text.count("!")
    if "!!" in text or bangs > 2:
        out.append(("spam_exclamations", f"{bangs} exclamation marks"))
    shortened = [link.host for link in links if link.registered_domain in SHORTENERS or link.host in SHORTENERS]
    if shortened:
        out.append(("spam_shortened_link", "shortened link: " + ", ".join(dict.fromkeys(shortened))))
    # Every emoji lies above U+2000; most messages have no such character, and counting is costly.
    emojis = emoji.emoji_count(text) if max(text, default="\0") > "\u2000" else 0
    if emojis > 3:
        out.append(("spam_emoji", f"{emojis} emoji"))
    currencies = len(_CURRENCY.findall(text))
    if currencies >= 3 or "$$" in text:
        out.append(("spam_currency_symbols", f"{currencies} currency symbols"))
    triggers = list(dict.fromkeys(m.group(0) for m in _TRIGGERS.finditer(fold(text))))
    if triggers:
        out.append(("spam_trigger_words", "words: " + ", ".join(triggers[:5])))
    return out
