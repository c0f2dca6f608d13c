"""EsmeClient against SmppServer over real sockets: binds, windows, receipts, keepalive, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tidings.smpp import (
    BindError,
    BindRequest,
    ClientState,
    CommandStatus,
    CommandStatusError,
    DeliverSm,
    DeliveryReceipt,
    EsmeClient,
    MessageState,
    NotBound,
    ResponseTimeout,
    ServerSession,
    SessionError,
    SessionState,
    SmppServer,
    SubmitSm,
    TokenBucket,
    receipt_from_pdu,
    receipt_pdu,
)
from tidings.smpp.constants import CommandId, Tag
from tidings.smpp.pdu import DataSm, DataSmResp, Pdu
from tidings.smpp.testing import RawPeer, RecordingHandler

S = CommandStatus
ServerFactory = Callable[..., Awaitable[SmppServer]]
ClientFactory = Callable[..., EsmeClient]


def message(text: str = "hello") -> SubmitSm:
    return SubmitSm(source_addr="Tidings", destination_addr="46701234567", short_message=text.encode())


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def only_session(server: SmppServer) -> ServerSession:
    (session,) = server.sessions
    return session


async def test_bind_and_submit(server: SmppServer, make_client: ClientFactory, handler: RecordingHandler) -> None:
    states: list[ClientState] = []
    client = make_client(server.port, on_state_change=states.append, system_type="VMA")
    await client.start()
    assert client.bound and client.state is ClientState.BOUND
    assert states == [ClientState.CONNECTING, ClientState.BOUND]
    response = await client.submit(message("first"))
    assert (response.command_status, response.message_id) == (S.ESME_ROK, "msg00000001")
    session = only_session(server)
    assert (session.state, session.system_id, session.system_type) == (SessionState.BOUND_TRX, "tidings", "VMA")
    assert handler.submitted[0].short_message == b"first"


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("tidings", "wrong", S.ESME_RINVPASWD), ("stranger", "secret", S.ESME_RINVSYSID)],
)
async def test_bind_refused(
    server: SmppServer, make_client: ClientFactory, system_id: str, password: str, status: int
) -> None:
    client = make_client(server.port, system_id=system_id, password=password)
    with pytest.raises(BindError) as caught:
        await client.start()
    assert caught.value.command_status == status
    assert caught.value.credentials_rejected and not caught.value.transient
    assert not client.bound
    with pytest.raises(NotBound):
        await client.submit(message())
    await eventually(lambda: not server.sessions)


class BusyHandler(RecordingHandler):
    """Refuses binds with ESME_RBINDFAIL while `busy` (too many binds, an SMSC starting up...)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = True

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        self.binds.append(pdu)
        return S.ESME_RBINDFAIL if self.busy else S.ESME_ROK


async def test_a_first_bind_refused_with_bind_fail_is_retried_with_backoff(
    make_server: ServerFactory, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """ESME_RBINDFAIL says nothing about the credentials: `start` returns unbound, the refusal is
    logged and the bind tried again with backoff, until the SMSC takes it."""
    handler = BusyHandler()
    server = await make_server(handler)
    client = make_client(server.port)
    await client.start()
    assert not client.bound
    assert isinstance(client.last_error, BindError) and client.last_error.command_status == S.ESME_RBINDFAIL
    await eventually(lambda: len(handler.binds) >= 3)
    assert "ESME_RBINDFAIL" in caplog.text and "retrying with backoff" in caplog.text
    handler.busy = False
    await client.wait_bound(timeout=5)
    assert (await client.submit(message())).command_status == S.ESME_ROK


async def test_bind_modes_limit_direction(server: SmppServer, make_client: ClientFactory) -> None:
    transmitter = make_client(server.port, bind="transmitter")
    await transmitter.start()
    session = only_session(server)
    assert session.state is SessionState.BOUND_TX
    with pytest.raises(NotBound):
        await session.deliver(DeliverSm(source_addr="1", destination_addr="2"))
    await transmitter.aclose()

    receiver = make_client(server.port, bind="receiver")
    await receiver.start()
    assert receiver.session is not None and receiver.session.state is SessionState.BOUND_RX
    with pytest.raises(NotBound):
        await receiver.submit(message())


class SlowHandler(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most_active = 0

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        await asyncio.sleep(0.005)
        self.active -= 1
        return await super().handle_submit_sm(session, pdu)


async def test_window_bounds_outstanding_submits(make_server: ServerFactory, make_client: ClientFactory) -> None:
    handler = SlowHandler()
    server = await make_server(handler)
    client = make_client(server.port, window=5)
    await client.start()
    assert client.session is not None
    peak = 0

    async def one(index: int) -> str:
        nonlocal peak
        task = asyncio.ensure_future(client.submit(message(f"m{index}")))
        await asyncio.sleep(0)
        assert client.session is not None
        peak = max(peak, client.session.in_flight)
        return (await task).message_id

    message_ids = await asyncio.gather(*(one(index) for index in range(60)))
    assert len(set(message_ids)) == 60
    assert handler.most_active == 5
    assert peak == 5
    assert client.session.in_flight == 0
    assert sorted(pdu.short_message for pdu in handler.submitted) == sorted(f"m{i}".encode() for i in range(60))


async def test_priority_submits_take_the_next_window_slots_before_waiting_bulk(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """With the window full and bulk submits queued for it, a priority submit (a verification
    code) is sent as soon as a slot frees, ahead of every bulk submit that was waiting."""
    handler = SlowHandler()
    server = await make_server(handler)
    client = make_client(server.port, window=2)
    await client.start()
    bulk = [asyncio.ensure_future(client.submit(message(f"bulk{i}"))) for i in range(20)]
    await asyncio.sleep(0)
    assert client.session is not None and client.session.in_flight == 2
    codes = [asyncio.ensure_future(client.submit(message(f"code{i}"), priority=True)) for i in range(2)]
    await asyncio.gather(*bulk, *codes)
    order = [pdu.short_message.decode() for pdu in handler.submitted]
    # The two bulk submits already in flight go first, then the codes, then the rest of the bulk.
    assert order[2:4] == ["code0", "code1"]
    assert sorted(order[:2]) == ["bulk0", "bulk1"] and order[4:] == [f"bulk{i}" for i in range(2, 20)]
    assert client.session.in_flight == 0


@pytest.mark.parametrize(
    ("status", "transient"),
    [(S.ESME_RTHROTTLED, True), (S.ESME_RMSGQFUL, True), (S.ESME_RINVDSTADR, False)],
)
async def test_rejected_submit_raises_with_its_status(
    make_server: ServerFactory, make_client: ClientFactory, status: int, transient: bool
) -> None:
    server = await make_server(RecordingHandler(submit_status=status))
    client = make_client(server.port)
    await client.start()
    with pytest.raises(CommandStatusError) as caught:
        await client.submit(message())
    assert (caught.value.command_status, caught.value.transient) == (status, transient)
    assert not isinstance(caught.value, SessionError)


async def test_deliver_sm_answered_only_after_the_callback_returns(server: SmppServer, make_client: ClientFactory) -> None:
    gate = asyncio.Event()
    stored: list[DeliveryReceipt] = []

    async def on_deliver_sm(pdu: DeliverSm) -> int:
        await gate.wait()
        receipt = receipt_from_pdu(pdu)
        assert receipt is not None
        stored.append(receipt)
        return S.ESME_ROK

    client = make_client(server.port, on_deliver_sm=on_deliver_sm)
    await client.start()
    receipt = DeliveryReceipt(message_id="msg1", message_state=MessageState.DELIVERED)
    delivery = asyncio.create_task(only_session(server).deliver(receipt_pdu(receipt, source_addr="467", destination_addr="T")))
    await asyncio.sleep(0.1)
    assert not delivery.done()
    assert not stored
    gate.set()
    response = await asyncio.wait_for(delivery, 5)
    assert response.command_status == S.ESME_ROK
    assert [r.message_id for r in stored] == ["msg1"]


async def test_deliver_sm_callback_status_and_failure_reach_the_smsc(server: SmppServer, make_client: ClientFactory) -> None:
    answers = iter([S.ESME_RX_P_APPN])

    async def on_deliver_sm(pdu: DeliverSm) -> int:
        try:
            return next(answers)
        except StopIteration:
            raise RuntimeError("storage unavailable") from None

    client = make_client(server.port, on_deliver_sm=on_deliver_sm)
    await client.start()
    session = only_session(server)
    with pytest.raises(CommandStatusError) as permanent:
        await session.deliver(DeliverSm(source_addr="467", destination_addr="T", short_message=b"MO"))
    assert (permanent.value.command_status, permanent.value.transient) == (S.ESME_RX_P_APPN, False)
    with pytest.raises(CommandStatusError) as retry:
        await session.deliver(DeliverSm(source_addr="467", destination_addr="T", short_message=b"MO"))
    assert (retry.value.command_status, retry.value.transient) == (S.ESME_RX_T_APPN, True)
    assert client.bound


async def test_data_sm_from_the_smsc_goes_to_the_same_callback(server: SmppServer, make_client: ClientFactory) -> None:
    """Some SMSCs deliver MO and receipts as data_sm: answered with data_sm_resp, after the callback."""
    seen: list[object] = []

    async def on_deliver_sm(pdu: DeliverSm | DataSm) -> int:
        seen.append(pdu)
        return S.ESME_ROK

    client = make_client(server.port, on_deliver_sm=on_deliver_sm)
    await client.start()
    response = await only_session(server).request(
        DataSm(source_addr="467", destination_addr="T", tlvs={Tag.MESSAGE_PAYLOAD: b"MO as data_sm"}))
    assert isinstance(response, DataSmResp) and response.command_status == S.ESME_ROK
    [pdu] = seen
    assert isinstance(pdu, DataSm) and pdu.tlv_bytes(Tag.MESSAGE_PAYLOAD) == b"MO as data_sm"


async def test_enquire_link_keeps_an_idle_bind_alive(make_server: ServerFactory, make_client: ClientFactory) -> None:
    server = await make_server(enquire_link_interval=None)
    client = make_client(server.port, enquire_link_interval=0.05, response_timeout=0.5)
    await client.start()
    first_session = client.session
    await asyncio.sleep(0.5)
    assert only_session(server).stats.enquire_links_received >= 3
    assert client.session is first_session and client.bound
    assert first_session is not None and first_session.stats.response_timeouts == 0


class StuckHandler(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        await self.release.wait()
        return await super().handle_submit_sm(session, pdu)


async def test_response_timeout_frees_the_window(make_server: ServerFactory, make_client: ClientFactory) -> None:
    handler = StuckHandler()
    server = await make_server(handler)
    client = make_client(server.port, window=2, response_timeout=0.2, enquire_link_interval=None)
    await client.start()
    results = await asyncio.gather(*(client.submit(message()) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, ResponseTimeout) for result in results)
    assert client.session is not None and client.session.in_flight == 0
    assert client.session.stats.response_timeouts == 3
    handler.release.set()


async def test_server_restart_client_reconnects_and_submit_is_retryable_meanwhile(
    make_server: ServerFactory, make_client: ClientFactory, handler: RecordingHandler
) -> None:
    server = await make_server()
    port = server.port
    states: list[ClientState] = []
    client = make_client(port, on_state_change=states.append)
    await client.start()
    await server.stop()
    await eventually(lambda: client.state is not ClientState.BOUND)
    with pytest.raises(NotBound) as caught:
        await client.submit(message())
    assert caught.value.retryable
    await asyncio.sleep(0.3)  # a few refused reconnects

    restarted = SmppServer(handler, "127.0.0.1", port)
    await restarted.start()
    try:
        await client.wait_bound(timeout=5)
        assert (await client.submit(message("again"))).command_status == S.ESME_ROK
    finally:
        await client.aclose()
        await restarted.stop()
    assert states.count(ClientState.BOUND) == 2
    assert states.count(ClientState.CONNECTING) >= 3
    assert isinstance(client.last_error, OSError)


async def test_dropped_connection_is_rebound(server: SmppServer, make_client: ClientFactory) -> None:
    client = make_client(server.port)
    await client.start()
    first = client.session
    only_session(server).close()
    await eventually(lambda: client.bound and client.session is not first)
    assert (await client.submit(message())).command_status == S.ESME_ROK


async def test_reconnect_attempts_back_off(make_client: ClientFactory) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    loop = asyncio.get_running_loop()
    attempts: list[float] = []

    def record(state: ClientState) -> None:
        if state is ClientState.CONNECTING:
            attempts.append(loop.time())

    client = make_client(port, on_state_change=record, reconnect_delay=0.05, reconnect_max_delay=0.4)
    await client.start()  # nothing listens: returns, keeps trying in the background
    assert client.state is ClientState.DISCONNECTED
    await asyncio.sleep(1.2)
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert 3 <= len(attempts) <= 15
    assert all(gap >= 0.02 for gap in gaps)
    assert max(gaps) > 0.15  # grew beyond the initial delay
    assert all(gap < 0.4 + 0.2 for gap in gaps)  # and stayed capped


async def test_an_smsc_that_drops_each_bind_at_once_is_tried_ever_more_slowly(make_client: ClientFactory) -> None:
    """A bind that does not hold (the SMSC takes it and hangs up) does not reset the backoff:
    reconnects slow down as for an SMSC that cannot be reached, instead of a storm of binds."""
    connections = 0

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        peer = RawPeer(reader, writer)
        bind = await peer.read_pdu()
        await peer.send(bind.response(S.ESME_ROK))
        writer.close()

    listener = await asyncio.start_server(hangs_up, "127.0.0.1", 0)
    try:
        client = make_client(listener.sockets[0].getsockname()[1], reconnect_delay=0.02, reconnect_max_delay=2.0,
                             enquire_link_interval=0.5)
        await client.start()
        await eventually(lambda: connections >= 5)
        assert client.backoff.attempts >= 4
    finally:
        await client.aclose(timeout=0.2)
        listener.close()
        await listener.wait_closed()


async def test_a_bind_that_held_an_enquire_link_interval_resets_the_backoff(
    server: SmppServer, make_client: ClientFactory
) -> None:
    client = make_client(server.port, enquire_link_interval=0.1)
    await client.start()
    first = client.session
    client.backoff.attempts = 5  # as after a run of failed attempts
    await asyncio.sleep(0.25)
    only_session(server).close()
    await eventually(lambda: client.bound and client.session is not first)
    assert client.backoff.attempts == 1  # reset, then one delay taken


async def test_dead_smsc_is_detected_by_enquire_link(make_client: ClientFactory) -> None:
    """An SMSC that accepts the bind and then never answers again is dropped and re-bound."""
    connections: list[RawPeer] = []

    async def silent_smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        connections.append(peer)
        bind = await peer.read_pdu()
        await peer.send(bind.response(S.ESME_ROK))
        try:
            while await reader.read(1024):
                pass
        finally:
            writer.close()

    listener = await asyncio.start_server(silent_smsc, "127.0.0.1", 0)
    try:
        client = make_client(listener.sockets[0].getsockname()[1], enquire_link_interval=0.05, response_timeout=0.2)
        await client.start()
        assert client.bound
        await eventually(lambda: len(connections) >= 2, timeout=5)
    finally:
        await client.aclose(timeout=0.2)
        listener.close()
        await listener.wait_closed()


async def test_throughput_cap_is_respected(server: SmppServer, make_client: ClientFactory, handler: RecordingHandler) -> None:
    rate, burst = 50.0, 5
    client = make_client(server.port, window=20, limiter=TokenBucket(rate, burst=burst))
    await client.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.gather(*(client.submit(message()) for _ in range(40)))
    await asyncio.sleep(0.3)
    early = len(handler.submitted)
    await sending
    elapsed = loop.time() - started
    assert early <= burst + rate * 0.3 + 5
    assert elapsed >= (40 - burst) / rate * 0.8
    assert len(handler.submitted) == 40


async def test_aclose_unbinds(server: SmppServer, make_client: ClientFactory, handler: RecordingHandler) -> None:
    states: list[ClientState] = []
    client = make_client(server.port, on_state_change=states.append)
    await client.start()
    await client.aclose()
    assert handler.unbinds == 1
    assert client.state is ClientState.CLOSED and states[-1] is ClientState.CLOSED
    with pytest.raises(NotBound):
        await client.submit(message())
    await eventually(lambda: not server.sessions)


class InPlaceHandler(RecordingHandler):
    """Answers submit_sm in place; a body of "boom" makes the answer fail."""

    def __init__(self) -> None:
        super().__init__()
        self.in_place = 0
        self.tasks_seen: list[asyncio.Task[object] | None] = []

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        raise AssertionError("submit_sm_now is defined: the server must use it")

    def submit_sm_now(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        self.tasks_seen.append(asyncio.current_task())
        if pdu.short_message == b"boom":
            raise RuntimeError("boom")
        self.in_place += 1
        if pdu.short_message == b"refuse":
            return S.ESME_RINVDSTADR, "ignored"
        return S.ESME_ROK, f"now{self.in_place:04d}"


async def test_a_handler_that_needs_no_wait_answers_submit_sm_in_place(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler = InPlaceHandler()
    server = await make_server(handler)
    client = make_client(server.port)
    await client.start()
    responses = await asyncio.gather(*(client.submit(message(f"m{i}")) for i in range(20)))
    assert sorted(r.message_id for r in responses) == [f"now{i:04d}" for i in range(1, 21)]
    assert handler.tasks_seen and all(task is None for task in handler.tasks_seen)  # no task per request
    with pytest.raises(CommandStatusError) as refused:
        await client.submit(message("refuse"))
    assert refused.value.command_status == S.ESME_RINVDSTADR
    with pytest.raises(CommandStatusError) as failed:
        await client.submit(message("boom"))
    assert failed.value.command_status == S.ESME_RSYSERR
    assert (await client.submit(message("after"))).message_id == "now0022"  # the session goes on


async def test_a_deliver_sm_crossing_the_unbind_is_taken_not_refused(make_client: ClientFactory) -> None:
    """The SMSC's deliver_sm and the ESME's unbind may cross on the wire. Until unbind_resp the
    ESME is still bound, so it takes the receipt (its callback, ESME_ROK) rather than refusing it
    with ESME_RINVBNDSTS — a permanent error, on which an SMSC drops the receipt for good."""
    answers: list[Pdu] = []

    async def smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        bind = await peer.read_pdu()
        await peer.send(bind.response(S.ESME_ROK))
        unbind = await peer.read_pdu()
        assert unbind.command_id == CommandId.UNBIND
        await peer.send(DeliverSm(sequence_number=77, source_addr="46701234567", destination_addr="Tidings",
                                  esm_class=0x04, short_message=b"id:abc sub:001 dlvrd:001 stat:DELIVRD err:000"))
        answers.append(await peer.read_pdu())
        await peer.send(unbind.response(S.ESME_ROK))
        writer.close()

    received: list[DeliverSm] = []

    async def on_deliver_sm(pdu: DeliverSm) -> int:
        received.append(pdu)
        return S.ESME_ROK

    listener = await asyncio.start_server(smsc, "127.0.0.1", 0)
    try:
        client = make_client(listener.sockets[0].getsockname()[1], on_deliver_sm=on_deliver_sm)
        await client.start()
        await client.aclose(timeout=2.0)
    finally:
        listener.close()
        await listener.wait_closed()
    assert [(a.command_id, a.sequence_number, a.command_status) for a in answers] == [
        (CommandId.DELIVER_SM_RESP, 77, S.ESME_ROK)]
    assert [p.short_message for p in received] == [b"id:abc sub:001 dlvrd:001 stat:DELIVRD err:000"]
