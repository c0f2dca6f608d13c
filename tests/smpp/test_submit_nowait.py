"""`EsmeClient.submit_nowait`: a submit_sm without a coroutine, its answer handed to a callback.

Against a real `SmppServer` over loopback: the window bounds what is outstanding and queued
submits leave in order (priority first) as slots free; every submit gets exactly one answer —
the submit_sm_resp, the refusal, the timeout, or the closed session — and an unbind waits for
the answers still owed. `withdraw_unsent` takes back only what was not written, and never the
rest of a message whose first part went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tidings.smpp import (
    CommandStatus,
    CommandStatusError,
    EncodeError,
    EsmeClient,
    NotBound,
    ResponseTimeout,
    ServerSession,
    SessionClosed,
    SmppServer,
    SubmitSm,
    TokenBucket,
)
from tidings.smpp.pdu import SubmitSmResp
from tidings.smpp.testing import RecordingHandler

S = CommandStatus
ServerFactory = Callable[..., Awaitable[SmppServer]]
ClientFactory = Callable[..., EsmeClient]
Answer = tuple[SubmitSmResp | None, BaseException | None]


def message(text: str) -> SubmitSm:
    return SubmitSm(source_addr="Tidings", destination_addr="46701234567", short_message=text.encode())


class Answers:
    """Collects each submit's answers by name (a list, so a second answer would show)."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[Answer]] = {}
        self.arrived = asyncio.Event()

    def callback(self, name: str) -> Callable[[SubmitSmResp | None, BaseException | None], None]:
        self.by_name[name] = []

        def answered(response: SubmitSmResp | None, error: BaseException | None) -> None:
            self.by_name[name].append((response, error))
            self.arrived.set()

        return answered

    async def all_in(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while any(not answers for answers in self.by_name.values()):
                self.arrived.clear()
                await self.arrived.wait()

    def submit(self, client: EsmeClient, *names: str, priority: bool = False) -> None:
        """Submit a message per name (its text), without waiting."""
        for name in names:
            client.submit_nowait(message(name), self.callback(name), priority=priority)

    def once(self, name: str) -> Answer:
        (answer,) = self.by_name[name]
        return answer


class GatedHandler(RecordingHandler):
    """Answers submit_sm only while `open` is set, counting the submits it holds."""

    def __init__(self, submit_status: int = S.ESME_ROK) -> None:
        super().__init__(submit_status=submit_status)
        self.open = asyncio.Event()
        self.held = 0
        self.most_held = 0

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        await self.open.wait()
        self.held -= 1
        return await super().handle_submit_sm(session, pdu)


async def bound_client(make_client: ClientFactory, port: int, **options: object) -> EsmeClient:
    client = make_client(port, **options)
    await client.start()
    return client


async def gated(make_server: ServerFactory, make_client: ClientFactory,
                **options: object) -> tuple[GatedHandler, EsmeClient, Answers]:
    """An SMSC that holds its answers, a client bound to it, and the client's answers."""
    handler = GatedHandler()
    server = await make_server(handler)
    return handler, await bound_client(make_client, server.port, **options), Answers()


def names(count: int) -> list[str]:
    return [f"m{i}" for i in range(count)]


async def test_queued_submits_go_out_in_order_as_the_window_frees(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=3)
    answers.submit(client, *names(30))
    assert client.session is not None and client.session.in_flight == 3  # the rest wait in the lane
    await asyncio.sleep(0.05)
    assert handler.held == 3 and not any(answers.by_name.values())
    handler.open.set()
    await answers.all_in()
    ids = []
    for i in range(30):
        response, error = answers.once(f"m{i}")
        assert error is None and response is not None and response.command_status == S.ESME_ROK
        ids.append(response.message_id)
    assert len(set(ids)) == 30
    assert handler.most_held == 3
    assert [pdu.short_message for pdu in handler.submitted] == [f"m{i}".encode() for i in range(30)]
    assert client.session.in_flight == 0


async def test_priority_submits_overtake_queued_bulk_ones_and_coroutine_waiters_keep_their_place(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=1)
    answers.submit(client, "first", "bulk1")
    waiting = asyncio.ensure_future(client.submit(message("bulk2")))
    await asyncio.sleep(0)
    answers.submit(client, "bulk3")
    answers.submit(client, "code", priority=True)
    handler.open.set()
    await answers.all_in()
    await waiting
    assert [pdu.short_message.decode() for pdu in handler.submitted] == ["first", "code", "bulk1", "bulk2", "bulk3"]


async def test_a_refused_submit_answers_with_its_status(make_server: ServerFactory, make_client: ClientFactory) -> None:
    server = await make_server(RecordingHandler(submit_status=S.ESME_RINVDSTADR))
    client = await bound_client(make_client, server.port)
    answers = Answers()
    client.submit_nowait(message("x"), answers.callback("x"))
    await answers.all_in()
    response, error = answers.once("x")
    assert response is None and isinstance(error, CommandStatusError)
    assert error.command_status == S.ESME_RINVDSTADR and not error.transient


async def test_a_lost_connection_answers_sent_and_queued_submits_once_each(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler = GatedHandler()
    server = await make_server(handler)
    client = await bound_client(make_client, server.port, window=2, reconnect_delay=5.0)
    answers = Answers()
    answers.submit(client, *names(5))
    await asyncio.sleep(0.05)
    (session,) = server.sessions
    session.close()  # the SMSC drops the connection with two submits unanswered, three queued
    await answers.all_in()
    for i in range(5):
        response, error = answers.once(f"m{i}")
        assert response is None and isinstance(error, SessionClosed)
    with pytest.raises(NotBound):  # no bind now: refused at once, and the callback is not called
        answers.submit(client, "late")
    await asyncio.sleep(0.05)
    assert answers.by_name["late"] == []


async def test_a_response_timeout_answers_the_submit_and_passes_its_slot_on(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=1, response_timeout=0.2)
    answers.submit(client, "slow", "next")
    async with asyncio.timeout(5):
        while not answers.by_name["slow"]:
            await asyncio.sleep(0.01)
    response, error = answers.once("slow")
    assert response is None and isinstance(error, ResponseTimeout)
    async with asyncio.timeout(5):  # sent once the slot freed; the SMSC holds it too
        while handler.held < 2:
            await asyncio.sleep(0.01)
    assert answers.by_name["next"] == [] and handler.submitted == []
    handler.open.set()
    await answers.all_in()
    response, error = answers.once("next")
    assert error is None and response is not None


async def test_closing_the_client_waits_for_the_answers_still_owed(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=2)
    answers.submit(client, *names(4))
    closing = asyncio.ensure_future(client.aclose(timeout=5.0))
    await asyncio.sleep(0.05)
    assert not closing.done()
    handler.open.set()
    await closing
    for i in range(4):
        response, error = answers.once(f"m{i}")
        assert error is None and response is not None and response.command_status == S.ESME_ROK


async def test_a_client_with_a_limiter_paces_callback_submits(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(RecordingHandler())
    client = await bound_client(make_client, server.port, limiter=TokenBucket(rate=20.0, burst=2.0))
    answers = Answers()
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers.submit(client, *names(6))
    await answers.all_in()
    assert loop.time() - started >= 0.15  # 2 at once, then 4 more at 20/s
    assert all(answers.once(f"m{i}")[1] is None for i in range(6))


def part(text: str, reference: int, total: int, sequence: int, to: str = "46701234567") -> SubmitSm:
    """One part of a concatenated message, numbered by a UDH concatenation element."""
    udh = bytes((5, 0, 3, reference, total, sequence))
    return SubmitSm(source_addr="Tidings", destination_addr=to, esm_class=0x40, short_message=udh + text.encode())


async def test_withdrawing_takes_back_only_the_submits_waiting_for_a_slot(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=3)
    answers.submit(client, *names(10))
    assert client.withdraw_unsent() == 7
    for i in range(3, 10):  # never written: told at once, the session still up
        response, error = answers.once(f"m{i}")
        assert response is None and isinstance(error, SessionClosed)
    assert client.bound and not any(answers.by_name[f"m{i}"] for i in range(3))
    handler.open.set()
    await answers.all_in()
    for i in range(3):  # the ones written are answered as usual
        response, error = answers.once(f"m{i}")
        assert error is None and response is not None
    assert [p.short_message for p in handler.submitted] == [b"m0", b"m1", b"m2"]
    answers.submit(client, "after")
    await answers.all_in()
    assert answers.once("after")[1] is None
    assert client.withdraw_unsent() == 0


async def test_withdrawing_leaves_the_rest_of_a_message_whose_first_part_went_out(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    handler, client, answers = await gated(make_server, make_client, window=2)
    other = "46709999999"
    client.submit_nowait(part("e1", 8, 2, 1, to=other), answers.callback("e1"))  # written at once
    queued = [("a1", part("a1", 7, 3, 1)), ("a2", part("a2", 7, 3, 2)), ("a3", part("a3", 7, 3, 3)),
              ("b1", part("b1", 8, 2, 1)), ("b2", part("b2", 8, 2, 2)),
              ("e2", part("e2", 8, 2, 2, to=other)),  # b's reference, e's recipient
              ("d", message("d"))]
    for name, pdu in queued:
        client.submit_nowait(pdu, answers.callback(name))
    # e1 and a1 are written. a2 and a3 finish a message that went out, e2 another one: they stay.
    # b (neither part written) and d go back.
    assert client.withdraw_unsent() == 3
    assert {name for name, got in answers.by_name.items() if got} == {"b1", "b2", "d"}
    handler.open.set()
    await answers.all_in()
    assert all(answers.once(name)[1] is None for name in ("e1", "a1", "a2", "a3", "e2"))
    assert sorted(p.short_message[6:] for p in handler.submitted) == [b"a1", b"a2", b"a3", b"e1", b"e2"]


async def test_a_stopping_smsc_answers_the_submits_it_is_handling_before_it_closes(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """A submit_sm the SMSC is still handling when it stops (its unbind and the ESME's
    unbind_resp done) gets its submit_sm_resp before the connection closes: an answer lost
    there makes the ESME send the message again, though it was taken."""
    handler = GatedHandler()
    server = await make_server(handler)
    client = await bound_client(make_client, server.port)
    answers = Answers()
    answers.submit(client, "m0")
    async with asyncio.timeout(5.0):
        while handler.held < 1:
            await asyncio.sleep(0.01)
    stopping = asyncio.ensure_future(server.stop(timeout=5.0))
    await asyncio.sleep(0.1)  # unbound by now; the handler still holds the submit
    handler.open.set()
    await stopping
    await answers.all_in()
    response, error = answers.once("m0")
    assert error is None and response is not None and response.command_status == S.ESME_ROK


def unencodable(text: str) -> SubmitSm:
    """A submit_sm whose source_addr is longer than its 20 octets (a 24-character sender)."""
    return SubmitSm(source_addr="X" * 24, destination_addr="46701234567", short_message=text.encode())


async def test_a_pdu_that_cannot_be_encoded_takes_no_window_slot(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """More unencodable submits than the window holds, sent when a slot is free and while the
    lane is full: each raises `EncodeError` at once (its callback never called), no slot stays
    taken, and the submits after them all go out."""
    handler, client, answers = await gated(make_server, make_client, window=2)
    session = client.session
    assert session is not None
    for i in range(5):  # a slot is free each time
        with pytest.raises(EncodeError) as caught:
            client.submit_nowait(unencodable(f"bad{i}"), answers.callback(f"bad{i}"))
        assert caught.value.command_status == S.ESME_RINVSRCADR
        assert session.in_flight == 0
    answers.submit(client, "m0", "m1", "m2")  # the window is full: m2 waits in the lane
    with pytest.raises(EncodeError):  # refused at once, not when a slot frees
        client.submit_nowait(unencodable("queued"), answers.callback("queued"))
    answers.submit(client, "m3")
    handler.open.set()
    for name in [f"bad{i}" for i in range(5)] + ["queued"]:
        del answers.by_name[name]
    await answers.all_in()
    assert all(answers.once(name)[0] is not None for name in ("m0", "m1", "m2", "m3"))
    assert [pdu.short_message for pdu in handler.submitted] == [b"m0", b"m1", b"m2", b"m3"]
    assert session.in_flight == 0
