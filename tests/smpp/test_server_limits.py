"""The SMSC side against a raw peer: bind state, malformed input and abuse limits, one attack each."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tidings.smpp import (
    HEADER_SIZE,
    BindRequest,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    ServerSession,
    SessionState,
    SmppServer,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from tidings.smpp.testing import RawPeer, RecordingHandler

S = CommandStatus
HEADER = struct.Struct(">IIII")
ServerFactory = Callable[..., Awaitable[SmppServer]]


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[SmppServer], Awaitable[RawPeer]]]:
    peers: list[RawPeer] = []

    async def factory(server: SmppServer) -> RawPeer:
        peer = await RawPeer.connect("127.0.0.1", server.port)
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        await peer.close()


async def bound_peer(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> RawPeer:
    peer = await connect(server)
    response = await peer.request(BindTransceiver(sequence_number=1, system_id="tidings", password="secret"))
    assert response.command_status == S.ESME_ROK
    return peer


def submit(sequence: int, **fields: object) -> SubmitSm:
    return SubmitSm(sequence_number=sequence, source_addr="Tidings", destination_addr="46701234567", short_message=b"hi", **fields)  # type: ignore[arg-type]


async def test_requests_before_bind_get_invalid_bind_status(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await connect(server)
    response = await peer.request(submit(7))
    assert isinstance(response, SubmitSmResp)
    assert (response.sequence_number, response.command_status) == (7, S.ESME_RINVBNDSTS)
    assert await peer.request(EnquireLink(sequence_number=8)) == EnquireLinkResp(sequence_number=8)


async def test_bind_response_names_the_smsc(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await connect(server)
    response = await peer.request(BindTransceiver(sequence_number=1, system_id="tidings", password="secret"))
    assert isinstance(response, BindTransceiverResp)
    assert (response.system_id, response.tlv_int(0x0210)) == ("TIDINGS", 0x34)
    (session,) = server.sessions
    assert session.system_id == "tidings" and session.bound


async def test_second_bind_is_already_bound(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await bound_peer(server, connect)
    response = await peer.request(BindTransmitter(sequence_number=2, system_id="tidings", password="secret"))
    assert response.command_status == S.ESME_RALYBND


class SlowBinds(RecordingHandler):
    """Takes a moment over each bind, as a handler checking a password hash does."""

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        status = await super().handle_bind(session, pdu)
        await asyncio.sleep(0.05)
        return status


async def test_a_second_bind_sent_before_the_first_is_answered_never_reaches_the_handler(
    make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]]
) -> None:
    """Two binds in one write: the second is answered ESME_RALYBND at once, without the handler
    (which counts binds: the gateway's `max_binds`) ever seeing it; the first binds."""
    handler = SlowBinds({"tidings": "secret"})
    server = await make_server(handler)
    peer = await connect(server)
    await peer.send(BindTransceiver(sequence_number=1, system_id="tidings", password="secret").encode()
                    + BindTransmitter(sequence_number=2, system_id="tidings", password="secret").encode())
    answers = {pdu.sequence_number: pdu.command_status for pdu in [await peer.read_pdu(), await peer.read_pdu()]}
    assert answers == {1: S.ESME_ROK, 2: S.ESME_RALYBND}
    assert len(handler.binds) == 1
    (session,) = server.sessions
    assert session.state is SessionState.BOUND_TRX


async def test_unknown_command_gets_generic_nack_and_the_session_goes_on(
    server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]], handler: RecordingHandler
) -> None:
    peer = await bound_peer(server, connect)
    await peer.send(HEADER.pack(HEADER_SIZE, 0x00000999, 0, 41))
    nack = await peer.read_pdu()
    assert nack == GenericNack(sequence_number=41, command_status=S.ESME_RINVCMDID)
    response = await peer.request(submit(42))
    assert response.command_status == S.ESME_ROK
    assert len(handler.submitted) == 1


async def test_wrong_direction_command_gets_generic_nack(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await bound_peer(server, connect)
    response = await peer.request(DeliverSm(sequence_number=5))
    assert response == GenericNack(sequence_number=5, command_status=S.ESME_RINVCMDID)


async def test_malformed_field_is_answered_by_its_own_response(
    server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]
) -> None:
    peer = await bound_peer(server, connect)
    good = submit(9).encode()
    too_long_source = good.replace(b"Tidings\0", b"T" * 30 + b"\0")
    await peer.send(struct.pack(">I", len(too_long_source)) + too_long_source[4:])
    response = await peer.read_pdu()
    assert isinstance(response, SubmitSmResp)
    assert (response.sequence_number, response.command_status) == (9, S.ESME_RINVSRCADR)
    assert (await peer.request(submit(10))).command_status == S.ESME_ROK


async def test_truncated_body_gets_generic_nack_and_the_session_goes_on(
    server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]
) -> None:
    peer = await bound_peer(server, connect)
    body = b"\0\0\0Tid"
    await peer.send(HEADER.pack(HEADER_SIZE + len(body), CommandId.SUBMIT_SM, 0, 11) + body)
    assert await peer.read_pdu() == GenericNack(sequence_number=11, command_status=S.ESME_RINVCMDLEN)
    assert (await peer.request(submit(12))).command_status == S.ESME_ROK


@pytest.mark.parametrize("length", [HEADER_SIZE - 1, 4096 + 1], ids=["below-header", "above-max"])
async def test_impossible_command_length_gets_generic_nack_then_close(
    make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]], length: int
) -> None:
    server = await make_server(max_pdu_size=4096)
    peer = await bound_peer(server, connect)
    await peer.send(HEADER.pack(length, CommandId.SUBMIT_SM, 0, 13))
    assert await peer.read_pdu() == GenericNack(sequence_number=13, command_status=S.ESME_RINVCMDLEN)
    assert await peer.wait_closed()


async def test_frames_split_and_batched_arbitrarily(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await bound_peer(server, connect)
    stream = b"".join(submit(sequence).encode() for sequence in range(20, 30))
    for offset in range(0, len(stream), 7):
        await peer.send(stream[offset : offset + 7])
    batch = b"".join(EnquireLink(sequence_number=sequence).encode() for sequence in range(30, 35))
    await peer.send(batch)
    answered = {(await peer.read_pdu()).sequence_number for _ in range(15)}
    assert answered == set(range(20, 35))


async def test_bind_timeout_closes_idle_connection(make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    server = await make_server(bind_timeout=0.2)
    peer = await connect(server)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await peer.wait_closed(timeout=3.0)
    assert loop.time() - started >= 0.15


async def test_refused_bind_closes_the_connection(server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    peer = await connect(server)
    response = await peer.request(BindTransceiver(sequence_number=1, system_id="tidings", password="guess"))
    assert response.command_status == S.ESME_RINVPASWD
    assert await peer.wait_closed()


class GatedHandler(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        await self.gate.wait()
        return await super().handle_submit_sm(session, pdu)


@pytest.mark.parametrize("flood_status", [S.ESME_RTHROTTLED, S.ESME_RMSGQFUL])
async def test_window_flood_is_refused(
    make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]], flood_status: int
) -> None:
    handler = GatedHandler()
    server = await make_server(handler, inbound_window=3, flood_status=flood_status)
    peer = await bound_peer(server, connect)
    await peer.send(b"".join(submit(sequence).encode() for sequence in range(100, 110)))
    refused = [await peer.read_pdu() for _ in range(7)]
    assert {pdu.command_status for pdu in refused} == {flood_status}
    assert {pdu.sequence_number for pdu in refused} == set(range(103, 110))
    handler.gate.set()
    accepted = [await peer.read_pdu() for _ in range(3)]
    assert {(pdu.sequence_number, pdu.command_status) for pdu in accepted} == {(seq, S.ESME_ROK) for seq in range(100, 103)}
    (session,) = server.sessions
    assert session.stats.throttled == 7


class FailingHandler(RecordingHandler):
    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        raise RuntimeError("database is down")


async def test_failing_handler_answers_system_error(make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]]) -> None:
    server = await make_server(FailingHandler())
    peer = await bound_peer(server, connect)
    response = await peer.request(submit(3))
    assert (response.command_id, response.command_status) == (CommandId.SUBMIT_SM_RESP, S.ESME_RSYSERR)


async def test_unbind_is_answered_then_closed(
    server: SmppServer, connect: Callable[[SmppServer], Awaitable[RawPeer]], handler: RecordingHandler
) -> None:
    peer = await bound_peer(server, connect)
    assert await peer.request(Unbind(sequence_number=50)) == UnbindResp(sequence_number=50)
    assert await peer.wait_closed()
    assert handler.unbinds == 1
    async with asyncio.timeout(2):
        while server.sessions:
            await asyncio.sleep(0.01)
    assert handler.disconnects == 1


async def test_server_probes_idle_esme_and_drops_a_dead_one(
    make_server: ServerFactory, connect: Callable[[SmppServer], Awaitable[RawPeer]]
) -> None:
    server = await make_server(enquire_link_interval=0.05, response_timeout=0.3)
    peer = await bound_peer(server, connect)
    probe = await peer.read_pdu()
    assert isinstance(probe, EnquireLink)
    await peer.send(EnquireLinkResp(sequence_number=probe.sequence_number))
    second: Pdu = await peer.read_pdu()
    assert isinstance(second, EnquireLink)
    # Stop answering: the server gives up after response_timeout.
    assert await peer.wait_closed(timeout=3.0)


async def test_a_submit_crossing_the_smscs_unbind_is_taken_and_answered(
    server: SmppServer, handler: RecordingHandler, connect: Callable[[SmppServer], Awaitable[RawPeer]]
) -> None:
    """The SMSC stops and sends unbind while the ESME's submit_sm is on the wire: until the
    unbind_resp the session is bound, so the submit is taken and answered ESME_ROK — refused with
    ESME_RINVBNDSTS, many ESMEs would count the message as failed for good."""
    peer = await bound_peer(server, connect)
    stopping = asyncio.ensure_future(server.stop(timeout=5.0))
    unbind = await peer.read_pdu()
    assert isinstance(unbind, Unbind)
    await peer.send(submit(9))
    answer = await peer.read_pdu()
    await peer.send(UnbindResp(sequence_number=unbind.sequence_number))
    await stopping
    assert isinstance(answer, SubmitSmResp)
    assert (answer.sequence_number, answer.command_status) == (9, S.ESME_ROK) and answer.message_id
    assert [p.short_message for p in handler.submitted] == [b"hi"]
