"""What an SMSC may send an ESME besides answers and deliver_sm: alert_notification and outbind,
which have no response (so no generic_nack either), and a submit_sm_resp whose message_id cannot
be read — the SMSC took the message, so it is not a failure to send again."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from tidings.smpp import (
    CommandId,
    CommandStatus,
    CommandStatusError,
    EnquireLink,
    EnquireLinkResp,
    EsmeClient,
    SubmitSm,
    SubmitSmResp,
)
from tidings.smpp.testing import RawPeer

S = CommandStatus
ClientFactory = Callable[..., EsmeClient]
HEADER = struct.Struct(">IIII")


def frame(command_id: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


@pytest.fixture
async def smsc(make_client: ClientFactory) -> AsyncIterator[tuple[EsmeClient, RawPeer]]:
    """A client bound to a raw SMSC, and that SMSC's end of the connection."""
    peers: asyncio.Queue[RawPeer] = asyncio.Queue()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        bind = await peer.read_pdu()
        await peer.send(bind.response(S.ESME_ROK))
        await peers.put(peer)

    listener = await asyncio.start_server(accepted, "127.0.0.1", 0)
    client = make_client(listener.sockets[0].getsockname()[1], enquire_link_interval=None)
    await client.start()
    peer = await peers.get()
    yield client, peer
    await peer.close()
    listener.close()


async def next_is_the_answer_to_an_enquire_link(peer: RawPeer, sequence: int) -> None:
    """Nothing was written back before: the first PDU the ESME sends now answers this probe."""
    await peer.send(EnquireLink(sequence_number=sequence))
    assert await peer.read_pdu() == EnquireLinkResp(sequence_number=sequence)


async def test_alert_notification_and_outbind_get_no_answer(smsc: tuple[EsmeClient, RawPeer]) -> None:
    client, peer = smsc
    alert = b"\x01\x01" + b"46701234567\0" + b"\x05\x00" + b"Tidings\0"  # the handset, the ESME
    await peer.send(frame(CommandId.ALERT_NOTIFICATION, 5, alert))
    await peer.send(frame(CommandId.OUTBIND, 6, b"TIDINGS\0secret\0"))
    await next_is_the_answer_to_an_enquire_link(peer, 7)
    assert client.bound


async def answer_submit(client: EsmeClient, peer: RawPeer, status: int, body: bytes) -> SubmitSmResp:
    submitting = asyncio.ensure_future(client.submit(SubmitSm(source_addr="Tidings", destination_addr="4670")))
    request = await peer.read_pdu()
    await peer.send(frame(CommandId.SUBMIT_SM_RESP, request.sequence_number, body, status))
    return await submitting


async def test_a_submit_sm_resp_with_an_unreadable_message_id_is_taken_as_its_status_says(
    smsc: tuple[EsmeClient, RawPeer]
) -> None:
    client, peer = smsc
    too_long = b"A" * 70 + b"\0"  # 64 octets at most
    response = await answer_submit(client, peer, S.ESME_ROK, too_long)
    assert (response.command_status, response.message_id) == (S.ESME_ROK, "")
    unterminated = b"abc"
    assert (await answer_submit(client, peer, S.ESME_ROK, unterminated)).message_id == ""
    with pytest.raises(CommandStatusError) as refused:
        await answer_submit(client, peer, S.ESME_RTHROTTLED, too_long)
    assert refused.value.transient
    await next_is_the_answer_to_an_enquire_link(peer, 9)  # and no generic_nack for them
    assert client.bound
