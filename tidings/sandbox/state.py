"""The sandbox's state across a graceful restart: what `Sandbox.stop` saves in its data directory
and the next `Sandbox.start` takes back (the file itself, and why it is deleted once taken:
`state_file.py`).

The document (version 1), besides the file's envelope:

    saved_at_ms  when it was saved (the sandbox's clock, epoch ms)
    handsets     every handset that holds a message or was configured, with its configuration
                 and its inbox and sent messages as the REST API shows them (`HandsetMessage`'s
                 fields), within the limits the sandbox keeps in memory; a handset made on first
                 use and holding nothing is left out: it is made again, the same, when next used
    smscs        {"": the sandbox's own SMSC, name: each `add_smsc` route}: rules, unfinished
                 deliveries, outboxes, message ids (`smsc_state.py`)
    voice        the voice network's rules and call logs (`SandboxVoice.save`)
    platforms    {twin name: {"saved": what it keeps (`PlatformTwin.saved`: registrations,
                 conversation windows, id counters, messages with buttons, RCS messages waiting), "callbacks": the callbacks it still owes,
                 each its URL, signed body and headers (`platforms/callbacks.py`)}}; optional
                 (older files have none)
    mail         the bounces the mail server still owes (`mail_outbox.py`); optional

Nothing is written while the sandbox runs: saving costs nothing per message. A process that is
killed (`kill -9`, a crash) saves nothing and starts empty: the pipeline's receipt deadline turns
the messages whose receipts died with it Unknown. Left out: the seeded random source (a
restarted sandbox draws from its seed again), the platform twins' memory of what they sent
(media, duplicate checks — their messages to handsets are in the inboxes; the twins keep the
messages with buttons a tap is matched against, and the RCS twin the messages still waiting for
a user set offline) and the mail server's mailboxes (its owed bounces are saved).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tidings.sandbox.handsets import Handset, HandsetMessage, Handsets, InvalidNumber
from tidings.sandbox.mail_outbox import MailRetrier, OwedMail
from tidings.sandbox.platforms.callbacks import OwedCallback
from tidings.sandbox.smsc_state import SavedSmsc, read_smsc, save_smsc
from tidings.sandbox.state_file import (
    UnreadableState,
    discard_state,
    member,
    optional_member,
    read_state,
    set_aside,
    write_state,
)
from tidings.sandbox.voice import SavedVoice

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["restore_sandbox", "save_sandbox"]

logger = logging.getLogger("tidings.sandbox.state")

_HANDSET_FIELDS = ("country", "valid", "reachable", "line_type", "capabilities", "ported", "carrier")


def save_sandbox(sandbox: Sandbox, path: str) -> None:
    """Write the sandbox's state to `path`; its SMSCs paused (`SmscHandler.pause`) and their
    sessions closed, so that nothing changes meanwhile and nothing is left in flight."""
    now_ms = sandbox.clock()
    smscs = {"": sandbox.smsc, **{name: other.smsc for name, other in sandbox.smscs.items()}}
    document = {
        "saved_at_ms": now_ms,
        "handsets": [_handset_json(handset) for handset in sandbox.handsets.all()
                     if handset.inbox or handset.sent or not handset.as_made],
        "smscs": {name: save_smsc(smsc, now_ms) for name, smsc in smscs.items()},
        "voice": sandbox.voice.save(),
        "platforms": {twin.name: {"saved": twin.saved(),
                                  "callbacks": [callback.to_json() for callback in twin.callbacks.owed()]}
                      for twin in sandbox.platforms.values()},
        "mail": [mail.to_json() for outbox in _mail_outboxes(sandbox) for mail in outbox.owed()],
    }
    write_state(path, document)


def restore_sandbox(sandbox: Sandbox, path: str) -> bool:
    """Take back the state saved at `path` into a started sandbox, then delete the file; False
    when there was none. An unreadable file is logged, set aside, and the sandbox stays empty."""
    # Read into handsets of their own, so that a file found unreadable halfway leaves nothing behind.
    scratch = Handsets(sandbox.handsets.max_messages)
    try:
        document = read_state(path)
        if document is None:
            return False
        handsets = _read_handsets(member(document, "handsets", list), scratch)
        smscs = {str(name): read_smsc(smsc, scratch) for name, smsc in member(document, "smscs", dict).items()}
        voice = SavedVoice.read(member(document, "voice", dict))
        platforms = {str(name): (member(twin, "saved", dict),
                                 [OwedCallback.from_json(c) for c in member(twin, "callbacks", list)])
                     for name, twin in (optional_member(document, "platforms", dict) or {}).items()}
        mail = [OwedMail.from_json(m) for m in optional_member(document, "mail", list) or []]
    except (UnreadableState, ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning("sandbox: the saved state %s cannot be read (%s); set aside, starting empty", path, exc)
        set_aside(path)
        return False
    discard_state(path)
    _give_back(sandbox, handsets, smscs, voice, platforms, mail)
    return True


def _mail_outboxes(sandbox: Sandbox) -> list[MailRetrier]:
    outboxes = (getattr(service, "outbox", None) for service in sandbox.services)
    return [outbox for outbox in outboxes if isinstance(outbox, MailRetrier)]


def _give_back(sandbox: Sandbox, handsets: list[tuple[Handset, list[HandsetMessage], list[HandsetMessage]]],
               smscs: dict[str, SavedSmsc], voice: SavedVoice,
               platforms: dict[str, tuple[dict[str, Any], list[OwedCallback]]], mail: list[OwedMail]) -> None:
    now_ms = sandbox.clock()
    held = []
    for handset, inbox, sent in handsets:
        sandbox.handsets.adopt(handset)
        held += [(message.received_at_ms, handset, True, message) for message in inbox]
        held += [(message.received_at_ms, handset, False, message) for message in sent]
    held.sort(key=lambda item: item[0])  # the network-wide limit drops the oldest first
    for _, handset, received, message in held:
        if received:
            sandbox.handsets.receive(handset, message)
        else:
            sandbox.handsets.record_sent(handset, message)
    networks = {"": sandbox, **sandbox.smscs}
    for name, saved in smscs.items():
        network = networks.get(name)
        if network is None:
            logger.warning("sandbox: the saved state has an SMSC %r this sandbox does not have; left out", name)
            continue
        for account in saved.give_to(network.smsc, now_ms):
            logger.warning("sandbox: receipts and MO saved for account %r of SMSC %r dropped: no such account",
                           account, name or "sandbox")
    sandbox.voice.take_back(voice)
    twins = {twin.name: twin for twin in sandbox.platforms.values()}
    for name, (kept, owed) in platforms.items():
        twin = twins.get(name)
        if twin is None:
            logger.warning("sandbox: what platform %r kept (%d callbacks owed) dropped: this sandbox has no such twin",
                           name, len(owed))
            continue
        try:
            twin.take_back(kept)
        except (UnreadableState, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("sandbox: what the %s twin kept cannot be read (%s); it starts without it", name, exc)
        twin.callbacks.take_back(owed)
    outboxes = _mail_outboxes(sandbox)
    if outboxes:
        outboxes[0].take_back(mail)
    elif mail:
        logger.warning("sandbox: %d bounces owed dropped: this sandbox has no mail server", len(mail))
    logger.info("sandbox: took back the state saved at stop (%d handsets)", len(handsets))


def _handset_json(handset: Handset) -> dict[str, Any]:
    return {
        "number": handset.number, **{name: getattr(handset, name) for name in _HANDSET_FIELDS},
        "as_made": handset.as_made,
        "inbox": [_message_json(message) for message in handset.inbox],
        "sent": [_message_json(message) for message in handset.sent],
    }


def _message_json(message: HandsetMessage) -> dict[str, Any]:
    return {
        "sender": message.sender, "recipient": message.recipient, "body": message.body,
        "encoding": message.encoding, "segments": message.segments, "received_at_ms": message.received_at_ms,
        "flash": message.flash, "message_id": message.message_id, "channel": message.channel,
        "content": message.content, "udh": message.udh,
    }


def _read_handsets(documents: list[Any], handsets: Handsets) -> list[tuple[
        Handset, list[HandsetMessage], list[HandsetMessage]]]:
    read = []
    for document in documents:
        capabilities = member(document, "capabilities", list)
        if not all(isinstance(name, str) for name in capabilities):
            raise UnreadableState(f"capabilities are names: {capabilities!r:.60}")
        configuration = {
            "country": optional_member(document, "country", str), "valid": member(document, "valid", bool),
            "reachable": member(document, "reachable", bool), "line_type": member(document, "line_type", str),
            "capabilities": capabilities, "ported": member(document, "ported", bool),
            "carrier": optional_member(document, "carrier", str),
        }
        try:  # as saved, without asking the numbering plan again (that costs ~0.3 ms a number)
            handset = handsets.put_back(member(document, "number", str), as_made=member(document, "as_made", bool),
                                        **configuration)
        except InvalidNumber as exc:
            raise UnreadableState(str(exc)) from exc
        read.append((handset, [_read_message(m) for m in member(document, "inbox", list)],
                     [_read_message(m) for m in member(document, "sent", list)]))
    return read


def _read_message(document: Any) -> HandsetMessage:
    return HandsetMessage(
        sender=member(document, "sender", str), recipient=member(document, "recipient", str),
        body=member(document, "body", str), encoding=member(document, "encoding", str),
        segments=member(document, "segments", int), received_at_ms=member(document, "received_at_ms", int),
        flash=member(document, "flash", bool), message_id=member(document, "message_id", str),
        channel=member(document, "channel", str), content=optional_member(document, "content", dict),
        udh=optional_member(document, "udh", str),
    )
