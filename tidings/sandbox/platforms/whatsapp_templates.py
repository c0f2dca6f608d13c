"""The WhatsApp twin's message templates: an approved-template registry and hydration.

Templates have the Graph `message_templates` shape (`name`, `language`, `category`, `status`,
`components` with `HEADER` / `BODY` / `FOOTER` / `BUTTONS`). `hydrate` checks a send's
`template` object against the registered template the way the Cloud API does (132001 unknown
name or language, 132000 parameter count, 132012 parameter format) and returns the text the
handset shows plus the quick-reply buttons (payload, label) it can tap.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from tidings.channels.whatsapp.graph import ErrorCode

__all__ = ["DEFAULT_TEMPLATES", "GraphError", "Hydrated", "TemplateRegistry"]

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


class GraphError(Exception):
    """A Cloud API error the twin answers with (`graph.error_body`)."""

    def __init__(self, code: int, details: str | None = None, *, http_status: int = 400,
                 message: str | None = None, subcode: int | None = None) -> None:
        super().__init__(details or message or str(code))
        self.code = code
        self.details = details
        self.http_status = http_status
        self.message = message
        self.subcode = subcode


DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    {"name": "hello_world", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
        {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a "
                                 "WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for "
                                 "taking the time to test with us."},
        {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
    ]},
    {"name": "order_update", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Track it"},
            {"type": "QUICK_REPLY", "text": "Stop updates"},
            {"type": "URL", "text": "Order details", "url": "https://shop.example.com/orders/{{1}}"},
        ]},
    ]},
    {"name": "appointment_reminder", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Reminder: {{1}} on {{2}}. Reply to confirm."},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Confirm"},
            {"type": "QUICK_REPLY", "text": "Reschedule"},
        ]},
    ]},
    # An authentication template as Meta builds it: the code in the body (with the security
    # recommendation), the expiry in the footer and a copy-code (OTP) button whose send-time
    # parameter is the code again (`button[0]url[1]text`). Verification codes go out on it.
    {"name": "verification_code", "language": "en_US", "category": "AUTHENTICATION", "components": [
        {"type": "BODY", "text": "*{{1}}* is your verification code. For your security, do not share this code."},
        {"type": "FOOTER", "text": "This code expires in 10 minutes."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ]},
    {"name": "summer_sale", "language": "en_US", "category": "MARKETING", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Our {{1}} sale is on!"},
        {"type": "BODY", "text": "Everything is {{1}} off until {{2}}."},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
    ]},
]


@dataclass(frozen=True)
class Hydrated:
    text: str
    category: str
    quick_replies: list[tuple[str, str]]  # (payload, label)


def _count(text: str | None) -> int:
    return len(set(_PLACEHOLDER.findall(text or "")))


def _fill(text: str, values: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[int(m[1]) - 1] if int(m[1]) <= len(values) else m[0], text)


def _text_values(kind: str, parameters: list[dict[str, Any]]) -> list[str]:
    values = []
    for parameter in parameters:
        ptype = parameter.get("type")
        if ptype not in ("text", "currency", "date_time"):
            raise GraphError(132012, f"{kind}: parameter of type {ptype!r} where the template expects text",
                             message="Parameter format does not match format in the created template")
        if ptype == "text":
            if not isinstance(parameter.get("text"), str) or not parameter["text"]:
                raise GraphError(ErrorCode.MISSING_PARAMETER, f"{kind}: parameter text is required")
            values.append(parameter["text"])
        else:
            values.append(str((parameter.get(ptype) or {}).get("fallback_value", "")))
    return values


class TemplateRegistry:
    """Approved templates by (name, language)."""

    def __init__(self, templates: list[dict[str, Any]] | None = None) -> None:
        self._templates: dict[tuple[str, str], dict[str, Any]] = {}
        for template in DEFAULT_TEMPLATES if templates is None else templates:
            self.put(template)

    def put(self, template: dict[str, Any]) -> dict[str, Any]:
        name, language = template.get("name"), template.get("language")
        components = template.get("components")
        if not isinstance(name, str) or not name or not isinstance(language, str) or not language:
            raise GraphError(ErrorCode.INVALID_PARAMETER, "a template needs a name and a language")
        if not isinstance(components, list) or not any(
                isinstance(c, dict) and c.get("type") == "BODY" and isinstance(c.get("text"), str) for c in components):
            raise GraphError(ErrorCode.INVALID_PARAMETER, "a template needs a BODY component with text")
        stored = {"name": name, "language": language, "status": template.get("status", "APPROVED"),
                  "category": template.get("category", "UTILITY"), "components": copy.deepcopy(components),
                  "id": template.get("id") or str(int(hashlib.sha1(f"{name}/{language}".encode()).hexdigest()[:12], 16))}
        self._templates[(name, language)] = stored
        return stored

    def delete(self, name: str, language: str) -> bool:
        return self._templates.pop((name, language), None) is not None

    def all(self) -> list[dict[str, Any]]:
        return list(self._templates.values())

    def get(self, name: str, language: str) -> dict[str, Any] | None:
        return self._templates.get((name, language))

    def hydrate(self, template: dict[str, Any]) -> Hydrated:
        """Check a send's `template` object against the registry; the text it renders to."""
        name = template.get("name")
        language = (template.get("language") or {}).get("code")
        if not isinstance(name, str) or not isinstance(language, str):
            raise GraphError(ErrorCode.MISSING_PARAMETER, "template name and language.code are required")
        stored = self.get(name, language)
        if stored is None:
            raise GraphError(ErrorCode.TEMPLATE_DOES_NOT_EXIST, f"template name ({name}) does not exist in {language}")
        if stored["status"] == "PAUSED":
            raise GraphError(ErrorCode.TEMPLATE_PAUSED, f"template {name} is paused", message="Template is paused")
        if stored["status"] != "APPROVED":
            raise GraphError(ErrorCode.TEMPLATE_DISABLED, f"template {name} is {stored['status']}",
                             message="Template is disabled")
        given: dict[str, list[Any]] = {"header": [], "body": []}
        buttons: dict[int, dict[str, Any]] = {}
        for component in template.get("components") or []:
            ctype = str(component.get("type", "")).lower()
            if ctype in given:
                given[ctype] = list(component.get("parameters") or [])
            elif ctype == "button":
                buttons[int(component.get("index", -1))] = component
            else:
                raise GraphError(ErrorCode.INVALID_PARAMETER_VALUE, f"unknown component type {ctype!r}")
        parts = {c["type"]: c for c in stored["components"]}
        lines: list[str] = []
        header = parts.get("HEADER")
        if header is not None:
            if header.get("format", "TEXT") == "TEXT":
                expected = _count(header.get("text"))
                if len(given["header"]) != expected:
                    raise GraphError(ErrorCode.TEMPLATE_PARAM_COUNT, f"header: number of localizable_params "
                                     f"({len(given['header'])}) does not match the expected number of params ({expected})")
                lines.append(_fill(header.get("text", ""), _text_values("header", given["header"])))
            else:
                media = header["format"].lower()
                param = given["header"][0] if len(given["header"]) == 1 else None
                if param is None or param.get("type") != media or not (
                        (param.get(media) or {}).get("link") or (param.get(media) or {}).get("id")):
                    raise GraphError(132012, f"header: a {media} parameter with a link or id is required",
                                     message="Parameter format does not match format in the created template")
                lines.append(f"[{media}: {(param[media].get('link') or param[media].get('id'))}]")
        elif given["header"]:
            raise GraphError(ErrorCode.TEMPLATE_PARAM_COUNT, "header: the template has no header")
        body = parts["BODY"]["text"]
        expected = _count(body)
        if len(given["body"]) != expected:
            raise GraphError(ErrorCode.TEMPLATE_PARAM_COUNT, f"body: number of localizable_params "
                             f"({len(given['body'])}) does not match the expected number of params ({expected})")
        lines.append(_fill(body, _text_values("body", given["body"])))
        if "FOOTER" in parts:
            lines.append(parts["FOOTER"].get("text", ""))
        quick_replies = self._buttons(parts.get("BUTTONS", {}).get("buttons") or [], buttons, lines)
        return Hydrated("\n".join(line for line in lines if line), stored["category"], quick_replies)

    @staticmethod
    def _buttons(defined: list[dict[str, Any]], given: dict[int, dict[str, Any]],
                 lines: list[str]) -> list[tuple[str, str]]:
        for index in given:
            if not 0 <= index < len(defined):
                raise GraphError(ErrorCode.INVALID_PARAMETER_VALUE, f"button at index {index} does not exist")
        quick_replies = []
        for index, button in enumerate(defined):
            component = given.get(index) or {}
            params = list(component.get("parameters") or [])
            if button["type"] == "QUICK_REPLY":
                payload = next((p.get("payload") for p in params if p.get("type") == "payload"), None)
                quick_replies.append((str(payload or button["text"]), button["text"]))
                lines.append(f"[{button['text']}]")
            elif button["type"] == "URL":
                url = button.get("url", "")
                if _count(url):
                    values = [p.get("text") for p in params if p.get("type") == "text"]
                    if component.get("sub_type", "url") != "url" or len(values) != 1 or not values[0]:
                        raise GraphError(ErrorCode.TEMPLATE_PARAM_COUNT,
                                         f"button {index}: the URL needs exactly one text parameter")
                    url = _fill(url, [str(values[0])])
                lines.append(f"[{button['text']}: {url}]")
            elif button["type"] == "OTP":  # the code to copy, given as a url button parameter
                values = [p.get("text") for p in params if p.get("type") == "text"]
                if component.get("sub_type", "url") != "url" or len(values) != 1 or not values[0]:
                    raise GraphError(ErrorCode.TEMPLATE_PARAM_COUNT,
                                     f"button {index}: the one-time password button needs the code as "
                                     "its one text parameter")
                lines.append(f"[{button['text']}: {values[0]}]")
            else:
                lines.append(f"[{button['text']}: {button.get('phone_number', '')}]")
        return quick_replies
