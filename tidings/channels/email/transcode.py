"""Conversation AppMessage JSON → one email: a subject, a plain-text part and an HTML part.

The text part is `degrade.as_text(content)` (choices numbered from 1, so a reply "2" selects the
second choice); the HTML part renders the same message natively: cards and carousel cards as
blocks with their image, choices as buttons — URL choices open the link, call choices `tel:`,
location choices a map link, reply choices a `mailto:` to the reply address whose body is the
choice's number. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tidings.conversations.degrade import as_text, choice_label, kind_of, map_link, numbered_choices

__all__ = ["RenderedEmail", "render", "subject_for"]

SUBJECT_MAX = 78
_SAFE_SCHEMES = ("https://", "http://", "mailto:", "tel:")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def subject_for(content: dict[str, Any], metadata: dict[str, Any], text: str) -> str:
    """The subject: metadata `email_subject`/`subject`, else the card or list title, else the
    first line of the text (shortened to 78 characters)."""
    for key in ("email_subject", "subject"):
        if isinstance(metadata.get(key), str) and metadata[key].strip():
            return str(metadata[key]).strip()
    kind = kind_of(content)
    body = content.get(kind) if kind else None
    if isinstance(body, dict) and isinstance(body.get("title"), str) and body["title"].strip():
        return str(body["title"]).strip()[:SUBJECT_MAX]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) > SUBJECT_MAX:
        first = first[: SUBJECT_MAX - 1].rstrip() + "…"
    return first or "(no subject)"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p)


def _media(body: dict[str, Any]) -> str:
    url = body.get("url")
    if not url or not str(url).lower().startswith(("https://", "http://")):
        return ""
    name = body.get("filename_override") or str(url).rsplit("/", 1)[-1]
    if str(url).lower().split("?", 1)[0].endswith(_IMAGE_SUFFIXES):
        return f'<p><img src="{_e(url)}" alt="{_e(name)}" style="max-width:100%"></p>'
    return f'<p><a href="{_e(url)}">{_e(name)}</a></p>'


def _button(choice: dict[str, Any], number: int, reply_to: str, subject: str) -> str:
    label = choice_label(choice)
    href: str
    if isinstance(choice.get("url_message"), dict):
        href = str(choice["url_message"].get("url", ""))
        label = choice["url_message"].get("title") or href
    elif isinstance(choice.get("call_message"), dict):
        href = "tel:" + str(choice["call_message"].get("phone_number", ""))
        label = choice["call_message"].get("title") or label
    elif isinstance(choice.get("location_message"), dict):
        coords = choice["location_message"].get("coordinates") or {}
        href = map_link(coords.get("latitude"), coords.get("longitude"))
        label = choice["location_message"].get("title") or label
    else:
        href = f"mailto:{reply_to}?subject={quote('Re: ' + subject)}&body={number}"
    if not href.lower().startswith(_SAFE_SCHEMES):
        return f'<span class="choice">{_e(label)}</span>'
    return (
        f'<a class="choice" href="{_e(href)}" style="display:inline-block;margin:4px;'
        f'padding:8px 14px;border:1px solid #1a73e8;border-radius:4px;color:#1a73e8;'
        f'text-decoration:none">{_e(label)}</a>'
    )


class _Html:
    def __init__(self, content: dict[str, Any], reply_to: str, subject: str) -> None:
        self.reply_to = reply_to
        self.subject = subject
        self.order = [id(c) for c in numbered_choices(content)]

    def buttons(self, choices: list[Any]) -> str:
        out = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            number = self.order.index(id(choice)) + 1 if id(choice) in self.order else 0
            out.append(_button(choice, number, self.reply_to, self.subject))
        return f'<p class="choices">{"".join(out)}</p>' if out else ""

    def card(self, card: dict[str, Any]) -> str:
        parts = ['<div class="card" style="border:1px solid #ddd;border-radius:6px;padding:12px;margin:8px 0">']
        if card.get("title"):
            parts.append(f"<h2>{_e(card['title'])}</h2>")
        if isinstance(card.get("media_message"), dict):
            parts.append(_media(card["media_message"]))
        if card.get("description"):
            parts.append(_paragraphs(str(card["description"])))
        parts.append(self.buttons(card.get("choices") or []))
        parts.append("</div>")
        return "".join(parts)


def _list_html(body: dict[str, Any], render: _Html) -> str:
    parts = []
    if body.get("title"):
        parts.append(f"<h2>{_e(body['title'])}</h2>")
    if body.get("description"):
        parts.append(_paragraphs(str(body["description"])))
    n = 1
    for section in body.get("sections") or []:
        if section.get("title"):
            parts.append(f"<h3>{_e(section['title'])}</h3>")
        items = []
        for item in section.get("items") or []:
            entry = item.get("choice") or item.get("product") or {}
            title = entry.get("title") or entry.get("id") or ""
            desc = entry.get("description")
            href = f"mailto:{render.reply_to}?subject={quote('Re: ' + render.subject)}&body={n}"
            line = f'<a href="{_e(href)}">{_e(title)}</a>'
            if desc:
                line += f" — {_e(desc)}"
            items.append(f"<li>{line}</li>")
            n += 1
        parts.append(f"<ol start=\"{n - len(items)}\">{''.join(items)}</ol>")
    return "".join(parts)


def _body_html(content: dict[str, Any], text: str, render: _Html) -> str:
    kind = kind_of(content)
    body = content.get(kind) if kind else None
    if not isinstance(body, dict):
        return _paragraphs(text)
    if kind == "text_message":
        return _paragraphs(str(body.get("text") or ""))
    if kind == "media_message":
        return _media(body)
    if kind == "card_message":
        return render.card(body)
    if kind == "carousel_message":
        cards = "".join(render.card(c) for c in body.get("cards") or [] if isinstance(c, dict))
        return cards + render.buttons(body.get("choices") or [])
    if kind == "choice_message":
        lead = (body.get("text_message") or {}).get("text") or ""
        return _paragraphs(str(lead)) + render.buttons(body.get("choices") or [])
    if kind == "location_message":
        coords = body.get("coordinates") or {}
        link = map_link(coords.get("latitude"), coords.get("longitude"))
        title = body.get("title") or body.get("label") or link
        label = f"<p>{_e(body['label'])}</p>" if body.get("label") and body.get("title") else ""
        return f'<p><a href="{_e(link)}">{_e(title)}</a></p>{label}'
    if kind == "list_message":
        return _list_html(body, render)
    return _paragraphs(text)


def render(content: dict[str, Any], *, reply_to: str, metadata: dict[str, Any] | None = None) -> RenderedEmail:
    """The email for one AppMessage; `reply_to` is where reply buttons write to."""
    text = as_text(content)
    subject = subject_for(content, metadata or {}, text)
    render_html = _Html(content, reply_to, subject)
    inner = _body_html(content, text, render_html)
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_e(subject)}</title></head>"
        f'<body style="font-family:sans-serif;line-height:1.4">{inner}</body></html>'
    )
    return RenderedEmail(subject=subject, text=text, html=document)
