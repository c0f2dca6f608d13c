"""The inbound keyword hook every inbound path calls: `handle_inbound_keywords`.

For a whole-message keyword (`tidings.policy.keywords.match_keyword`, under the receiving
sender's settings) it, in the caller's transaction:

1. queues the confirmation reply on the same channel — for SMS through the SMS pipeline
   (`replies.queue_sms_reply`), for other channels through the `send_reply` the caller passes —
   and keeps the reply's reference;
2. records the ledger event with the inbound message as proof (message id, text, the sender it
   was sent to, the reply's reference):

       STOP and equivalents   opt_out  (channel, "*")
       STOPALL                opt_out  ("*", "*")
       START, YES, …          opt_in   (channel, "*"), or, when a double opt-in is pending for
                              the contact on this channel, the confirmation of that opt-in
       HELP, INFO             nothing recorded; the help text is sent

The outcome says what happened; the caller keeps storing and routing the message as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.consent import double_opt_in, ledger, settings
from tidings.consent.identity import normalize_identity
from tidings.consent.replies import queue_sms_reply
from tidings.policy.consent import ALL
from tidings.policy.keywords import DEFAULT_REPLIES, KeywordKind, match_keyword

__all__ = ["CONFIRMED_TEXT", "KeywordOutcome", "ReplySender", "handle_inbound_keywords"]

# (connection, reply text) -> the reply's reference (a batch id, a conversation message id)
ReplySender = Callable[[AsyncConnection, str], Awaitable[str | None]]

CONFIRMED_TEXT = {
    "en": "Thank you, your subscription is confirmed. Reply STOP to unsubscribe.",
    "fr": "Merci, votre inscription est confirmée. Répondez ARRET pour vous désinscrire.",
    "es": "Gracias, tu suscripción está confirmada. Responde BAJA para darte de baja.",
    "de": "Danke, Ihre Anmeldung ist bestätigt. Antworten Sie STOPP zum Abmelden.",
    "pt": "Obrigado, sua inscrição está confirmada. Responda SAIR para sair.",
    "it": "Grazie, la tua iscrizione è confermata. Rispondi BASTA per disiscriverti.",
}


@dataclass(frozen=True)
class KeywordOutcome:
    kind: KeywordKind | None = None  # None: the message is not a keyword
    keyword: str | None = None
    language: str | None = None
    event_ids: list[int] = field(default_factory=list)
    reply_text: str | None = None
    reply_ref: str | None = None
    confirmation_id: str | None = None  # a double opt-in this message confirmed

    @property
    def matched(self) -> bool:
        return self.kind is not None


async def handle_inbound_keywords(conn: AsyncConnection, project_id: str, channel: str, identity: str,
                                  sender_id: str | None, text: str, message_id: str, now: int, *,
                                  service_plan_id: str | None = None,
                                  send_reply: ReplySender | None = None) -> KeywordOutcome:
    """Apply a keyword in an inbound message (see the module docstring)."""
    if not text or len(text) > 64:
        return KeywordOutcome()
    config = await settings.keyword_config(conn, project_id, sender_id)
    match = match_keyword(text, config)
    if match is None:
        return KeywordOutcome()
    try:
        key = normalize_identity(identity)
    except ValueError:
        key = identity
    channel = channel.upper()
    pending = None
    if match.kind is KeywordKind.OPT_IN:
        pending = await double_opt_in.pending_for(conn, project_id, key, channel, now)
    reply_text = match.reply
    if pending is not None and KeywordKind.OPT_IN not in config.replies:
        reply_text = CONFIRMED_TEXT.get(match.language, CONFIRMED_TEXT["en"])

    reply_ref = None
    if reply_text:
        if send_reply is not None:
            reply_ref = await send_reply(conn, reply_text)
        elif channel == "SMS" and sender_id:
            reply_ref = await queue_sms_reply(conn, project_id, service_plan_id, sender_id, identity,
                                              reply_text, now, client_reference=f"consent:keyword:{message_id}")
    proof = {"message_id": message_id, "text": text, "sender": sender_id, "keyword": match.keyword,
             "reply_ref": reply_ref}
    if pending is not None:
        done = await double_opt_in.confirm(conn, pending, by="reply", evidence=proof, now=now)
        return KeywordOutcome(match.kind, match.keyword, match.language, done.event_ids, reply_text,
                              reply_ref, pending.id)
    scope = {KeywordKind.OPT_OUT: (channel, "opt_out"), KeywordKind.OPT_OUT_ALL: (ALL, "opt_out"),
             KeywordKind.OPT_IN: (channel, "opt_in")}.get(match.kind)
    ids: list[int] = []
    if scope is not None:
        ids.append(await ledger.record(conn, project_id, ledger.Event(
            key, scope[0], ALL, scope[1], "keyword", proof, now)))
    return KeywordOutcome(match.kind, match.keyword, match.language, ids, reply_text, reply_ref)


__all__ += ["DEFAULT_REPLIES"]
