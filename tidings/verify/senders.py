"""Getting a code to the person: one function per delivery method.

    sms        a one-recipient batch through the SMS pipeline (`actions.batches.do_send`)
    flashCall  a missed call whose caller id ends with the code (`Context.voice`)
    callout    a call that speaks the code (`Context.voice`)
    whatsapp   a text message through the Conversation API engine (`actions.conversations.do_send`)
    email      likewise, on the EMAIL channel

Each returns a reference to what carried the code (batch id, call id, message id) and raises
`DeliveryError` when the code cannot be sent (no voice network, unreachable number, no
conversation app configured).
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.core.errors import DeliveryError, PermanentDeliveryError, RequestError
from tidings.runtime.context import Context
from tidings.verify.model import Method

__all__ = ["CODE_PLACEHOLDER", "Outgoing", "render", "send"]

CODE_PLACEHOLDER = "{{CODE}}"


@dataclass(frozen=True)
class Outgoing:
    project_id: str
    method: Method
    endpoint: str
    code: str
    text: str  # the rendered template (sms, whatsapp, email) or the speech (callout)
    sender: str  # the SMS sender
    cli: str | None = None  # flash calls
    locale: str = "en-US"
    conversation_app_id: str | None = None


def render(template: str, code: str) -> str:
    return template.replace(CODE_PLACEHOLDER, code)


async def send(ctx: Context, out: Outgoing) -> str:
    if out.method is Method.SMS:
        return await _sms(ctx, out)
    if out.method in (Method.FLASH_CALL, Method.CALLOUT):
        if ctx.voice is None:
            raise PermanentDeliveryError("no voice network is configured", 503)
        if out.method is Method.FLASH_CALL:
            assert out.cli is not None
            return await ctx.voice.place_flash_call(out.endpoint, out.cli)
        return await ctx.voice.place_callout(out.endpoint, out.text, out.locale)
    return await _conversation(ctx, out)


async def _sms(ctx: Context, out: Outgoing) -> str:
    from tidings.actions import batches

    payload = {"to": [out.endpoint], "from": out.sender, "body": out.text, "delivery_report": "none"}
    try:
        result = await batches.do_send(ctx, out.project_id, None, payload, priority=True)
    except RequestError as exc:
        raise PermanentDeliveryError(f"SMS refused: {exc.text}", 400) from exc
    return result.batch.id


async def _conversation(ctx: Context, out: Outgoing) -> str:
    if out.conversation_app_id is None:
        raise PermanentDeliveryError(f"no conversation app is configured for {out.method} codes", 400)
    from tidings.actions import conversations

    channel = "WHATSAPP" if out.method is Method.WHATSAPP else "EMAIL"
    payload = {
        "app_id": out.conversation_app_id,
        "recipient": {"identified_by": {"channel_identities": [{"channel": channel, "identity": out.endpoint}]}},
        "message": {"text_message": {"text": out.text}},
        "channel_priority_order": [channel],
    }
    try:
        accepted = await conversations.do_send(ctx, out.project_id, payload)
    except (RequestError, DeliveryError) as exc:
        raise PermanentDeliveryError(f"{channel} refused: {exc}", 400) from exc
    return str(accepted.get("message_id", ""))
