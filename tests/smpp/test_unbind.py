"""After unbind, on both sides, a session sends no new request: only the answers it owes, then it
closes. Requests still waiting for a window slot (never written) fail with `NotBound`, so they
go again over the next bind; nothing follows the unbind_resp on the wire but those answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tidings.smpp import (
    BindTransceiver,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EsmeClient,
    NotBound,
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
ServerFactory = Callable[..., Awaitable[SmppServer]]
ClientFactory = Callable[..., EsmeClient]
Answer = tuple[SubmitSmResp | None, BaseException | None]


def message(text: str) -> SubmitSm:
    return SubmitSm(source_addr="Tidings", destination_addr="46701234567", short_message=text.encode())


def deliver(text: str) -> DeliverSm:
    return DeliverSm(source_addr="46701234567", destination_addr="Tidings", short_message=text.encode())


async def nothing_more(peer: RawPeer) -> list[Pdu]:
    """What the peer still writes before it closes the connection."""
    more = []
    try:
        while True:
            more.append(await peer.read_pdu(timeout=2.0))
    except asyncio.IncompleteReadError:
        return more


@pytest.fixture
async def raw_smsc() -> AsyncIterator[tuple[int, asyncio.Queue[RawPeer]]]:
    """A listener whose connections are handed over as raw peers, their bind accepted."""
    peers: asyncio.Queue[RawPeer] = asyncio.Queue()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        bind = await peer.read_pdu()
        await peer.send(bind.response(S.ESME_ROK))
        await peers.put(peer)

    listener = await asyncio.start_server(accepted, "127.0.0.1", 0)
    yield listener.sockets[0].getsockname()[1], peers
    listener.close()


async def test_an_esme_unbound_by_the_smsc_sends_no_queued_submit(
    make_client: ClientFactory, raw_smsc: tuple[int, asyncio.Queue[RawPeer]]
) -> None:
    """The SMSC unbinds while one submit is in flight and two wait for the window: those two fail
    `NotBound` at once (never written); the ESME answers the unbind and, once the submit in
    flight is answered, closes — no submit_sm after the unbind_resp."""
    port, peers = raw_smsc
    client = make_client(port, window=1, enquire_link_interval=None, reconnect_delay=5.0)
    await client.start()
    smsc = await peers.get()
    answers: dict[str, list[Answer]] = {name: [] for name in ("m0", "m1", "m2")}
    for name, answered in answers.items():
        client.submit_nowait(message(name), lambda r, e, answered=answered: answered.append((r, e)))
    first = await smsc.read_pdu()
    assert isinstance(first, SubmitSm) and first.short_message == b"m0"
    await smsc.send(Unbind(sequence_number=7))
    assert await smsc.read_pdu() == UnbindResp(sequence_number=7)
    assert [type(answers[name][0][1]) for name in ("m1", "m2")] == [NotBound, NotBound]
    with pytest.raises(NotBound):
        client.submit_nowait(message("after"), lambda r, e: None)
    await smsc.send(SubmitSmResp(sequence_number=first.sequence_number, message_id="id0"))
    assert await nothing_more(smsc) == []
    ((response, error),) = answers["m0"]
    assert error is None and response is not None and response.message_id == "id0"


class Receiver(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.bound: asyncio.Future[ServerSession] = asyncio.get_running_loop().create_future()

    async def handle_bind(self, session: ServerSession, pdu: object) -> int:
        if not self.bound.done():
            self.bound.set_result(session)
        return S.ESME_ROK


async def test_an_smsc_unbound_by_the_esme_sends_no_waiting_deliver_sm(make_server: ServerFactory) -> None:
    """The ESME unbinds while the SMSC has one deliver_sm in flight and another waiting for the
    window: the waiting one fails `NotBound` (it is kept for the next bind); after the
    unbind_resp only the ESME's answer is awaited, and the connection closes."""
    handler = Receiver()
    server = await make_server(handler, window=1, enquire_link_interval=None)
    esme = await RawPeer.connect("127.0.0.1", server.port)
    try:
        await esme.request(BindTransceiver(sequence_number=1, system_id="x", password="y"))
        session = await handler.bound
        first = asyncio.ensure_future(session.deliver(deliver("d0")))
        second = asyncio.ensure_future(session.deliver(deliver("d1")))
        d0 = await esme.read_pdu()
        assert isinstance(d0, DeliverSm) and d0.short_message == b"d0"
        await esme.send(Unbind(sequence_number=2))
        assert await esme.read_pdu() == UnbindResp(sequence_number=2)
        assert session.state is SessionState.UNBINDING
        await esme.send(DeliverSmResp(sequence_number=d0.sequence_number))
        assert await nothing_more(esme) == []
        assert (await first).command_status == S.ESME_ROK
        with pytest.raises(NotBound):
            await second
    finally:
        await esme.close()


class Gated(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        await self.open.wait()
        return await super().handle_submit_sm(session, pdu)


async def test_a_session_that_is_unbinding_takes_no_new_request(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """`unbind` lets the requests already taken finish; one made meanwhile is refused `NotBound`."""
    handler = Gated()
    server = await make_server(handler)
    client = make_client(server.port)
    await client.start()
    in_flight = asyncio.ensure_future(client.submit(message("taken")))
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(client.aclose(timeout=2.0))
    await asyncio.sleep(0.05)
    with pytest.raises(NotBound):
        client.submit_nowait(message("late"), lambda r, e: None)
    handler.open.set()
    await closing
    assert (await in_flight).command_status == S.ESME_ROK
    assert [pdu.short_message for pdu in handler.submitted] == [b"taken"]
