"""Getting a code to the person: one function per delivery method.

    sms        a one-recipient batch through the SMS pipeline (`actions.batches.do_send`), expiring
               with the code (its expire_at: neither sent nor tried by the carrier after that)
    flashCall  a missed call whose caller id ends with the code (`Context.voice`)
    callout    a call that speaks the code (`Context.voice`)
    whatsapp   an authentication template through the Conversation API engine
               (`actions.conversations.do_send`): verification codes are business-initiated, so
               outside the 24-hour window only a template may carry them; the template
               (`verification_code`, en_US by default; the app's `options.whatsapp_template`
               names another) takes the code as `body[1]text` and as its copy-code button's
               `button[0]url[1]text`
    email      a text message through the engine on the EMAIL channel

Conversation messages carry `message_metadata` purpose "security" (billed AUTHENTICATION on
WhatsApp) and the recipient's consent for that one message: the person asked for the code on
this channel, which is the opt-in WhatsApp requires of a business-initiated message.

Each returns a reference to what carried the code (batch id, call id, message id) and raises
`DeliveryError` when the code cannot be sent (no voice network, unreachable number, no
conversation app configured).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table

from tidings.core.errors import DeliveryError, PermanentDeliveryError, RequestError
from tidings.runtime.context import Context
from tidings.verify.model import Method

__all__ = ["CODE_PLACEHOLDER", "DEFAULT_WHATSAPP_TEMPLATE", "Outgoing", "render", "send", "sms_tag"]

CODE_PLACEHOLDER = "{{CODE}}"
DEFAULT_WHATSAPP_TEMPLATE = ("verification_code", "en_US")  # (name, language)
SECURITY = "security"  # the purpose of every code message (policy gate, WhatsApp billing)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Outgoing:
    project_id: str
    method: Method
    endpoint: str
    code: str
    text: str  # the rendered template (sms, whatsapp, email) or the speech (callout)
    sender: str  # the SMS sender
    cli: str | None = None  # flash calls
    ring_seconds: int | None = None  # flash calls: flashCallOptions.dialTimeout (None: the network's)
    locale: str = "en-US"
    conversation_app_id: str | None = None
    whatsapp_template: tuple[str, str] = DEFAULT_WHATSAPP_TEMPLATE
    expires_ms: int | None = None  # when the code stops being accepted: the SMS batch's expire_at
    client_reference: str | None = None  # the SMS batch's, naming the verification (`sms_tag`)


def sms_tag(verification_id: str) -> str:
    """The `client_reference` of every batch carrying a code of the verification (first send and
    resends): how all of them are found to be redacted when it finishes."""
    return f"verification:{verification_id}"


def render(template: str, code: str) -> str:
    return template.replace(CODE_PLACEHOLDER, code)


Related = Callable[[str], Sequence[tuple[Table, list[dict[str, Any]]]]]


async def send(ctx: Context, out: Outgoing, *, related: Related | None = None) -> str:
    """Send the code; `related(batch_id)` (SMS only) gives rows committed in the batch's transaction."""
    if out.method is Method.SMS:
        return await _sms(ctx, out, related)
    if related is not None:
        raise ValueError("related rows go only with an SMS code")
    if out.method in (Method.FLASH_CALL, Method.CALLOUT):
        if ctx.voice is None:
            raise PermanentDeliveryError("no voice network is configured", 503)
        if out.method is Method.FLASH_CALL:
            assert out.cli is not None
            return await ctx.voice.place_flash_call(out.endpoint, out.cli, out.ring_seconds)
        return await ctx.voice.place_callout(out.endpoint, out.text, out.locale)
    return await _conversation(ctx, out)


async def _sms(ctx: Context, out: Outgoing, related: Related | None = None) -> str:
    from tidings.actions import batches

    payload = {"to": [out.endpoint], "from": out.sender, "body": out.text, "delivery_report": "none"}
    if out.client_reference is not None:
        payload["client_reference"] = out.client_reference
    if out.expires_ms is not None:  # a code is no use after it expires: the carrier stops trying then too
        payload["expire_at"] = (_EPOCH + timedelta(milliseconds=out.expires_ms)).isoformat(timespec="milliseconds")
    try:
        result = await batches.do_send(ctx, out.project_id, None, payload, related=related, priority=True)
    except RequestError as exc:
        raise PermanentDeliveryError(f"SMS refused: {exc.text}", 400) from exc
    return result.batch.id


async def _conversation(ctx: Context, out: Outgoing) -> str:
    if out.conversation_app_id is None:
        raise PermanentDeliveryError(f"no conversation app is configured for {out.method} codes", 400)
    from tidings.actions import conversations

    channel = "WHATSAPP" if out.method is Method.WHATSAPP else "EMAIL"
    message: dict[str, Any] = {"text_message": {"text": out.text}}
    if out.method is Method.WHATSAPP:
        name, language = out.whatsapp_template
        message = {"template_message": {"channel_template": {"WHATSAPP": {
            "template_id": name, "language_code": language,
            "parameters": {"body[1]text": out.code, "button[0]url[1]text": out.code}}}}}
    payload = {
        "app_id": out.conversation_app_id,
        "recipient": {"identified_by": {"channel_identities": [{"channel": channel, "identity": out.endpoint}]}},
        "message": message,
        "channel_priority_order": [channel],
        "message_metadata": orjson.dumps({"purpose": SECURITY}).decode(),
    }
    try:
        accepted = await conversations.do_send(ctx, out.project_id, payload,
                                               consent={"whatsapp_opt_in": [SECURITY]})
    except (RequestError, DeliveryError) as exc:
        raise PermanentDeliveryError(f"{channel} refused: {exc}", 400) from exc
    return str(accepted.get("message_id", ""))
