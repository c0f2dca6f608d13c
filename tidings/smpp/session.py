"""One SMPP connection: framing, sequence numbers, the request window and the bind state machine.

`Session` is an `asyncio.Protocol` (no stream reader in between: a chunk from the socket is cut into
frames and decoded in one pass) used unchanged by both sides; `role` says which side it plays and
so which requests it may send and receive in which state. It owns everything the specification
fixes and nothing a product decides:

* framing with a size guard: a command_length below 16 or above `max_pdu_size` cannot be
  resynchronised, so it is answered with generic_nack ESME_RINVCMDLEN and the connection closes;
* exactly one response per request: requests go to `on_request`, whose returned PDU (the matching
  response, or a generic_nack) is sent with the request's sequence number; a handler that raises or
  returns another PDU yields ESME_RSYSERR;
  enquire_link and unbind are answered by the session itself;
* malformed PDUs answered with the status `PduError` carries (`pdu.error_response`);
* bind state: a request not allowed in the current state gets ESME_RINVBNDSTS (a second bind
  ESME_RALYBND, also while the first is still being handled), an unknown or wrong-side command
  generic_nack ESME_RINVCMDID; an ESME leaves alert_notification and outbind unanswered, as the
  specification defines no response to them (logged);
* a response whose message_id cannot be read (submit_sm_resp, data_sm_resp, deliver_sm_resp) is
  taken as its header's command_status says, without the id: the peer did act on the request;
* unbinding: once unbind is sent or received no new request goes out (those still waiting for a
  slot fail with `NotBound`), only the answers owed to the peer, and then the connection closes;
* an outbound window: `send_request` waits for one of `window` slots, and the slot frees when the
  response arrives or `response_timeout` expires; priority requests (verification codes) wait in
  a lane of their own that is served first. `request_nowait` is the same request without a
  coroutine: the PDU waits in the lane itself and goes out the moment a slot frees, and its
  response (or the error in its place) is handed to a callback (`withdraw_queued` takes such
  requests back before they are written, for a quick stop); a PDU that cannot be encoded raises
  `EncodeError` before it takes a slot or a place in a lane; an inbound window: at most
  `inbound_window` requests are handled at once, the next is answered `flood_status` at once;
* enquire_link after `enquire_link_interval` without traffic from the peer; an unanswered one means
  a dead peer and closes the session; an SMSC closes a connection not bound within `bind_timeout`;
* a close that fails every pending request and window waiter with `SessionClosed`.

Writes made in one loop iteration leave in one `transport.write`, and response timeouts are swept
by one timer per session instead of one timer per request, to keep per-PDU cost low.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias, cast, overload

from tidings.smpp.constants import (
    BIND_COMMANDS,
    DEFAULT_MAX_PDU_SIZE,
    HEADER_SIZE,
    MAX_SEQUENCE_NUMBER,
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
)
from tidings.smpp.errors import BindError, CommandStatusError, NotBound, PduError, ResponseTimeout, SessionClosed
from tidings.smpp.pdu import (
    PDU_CLASSES,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageIdResponse,
    Pdu,
    Unbind,
    UnbindResp,
    decode,
    error_response,
)
from tidings.tasks import cancel_and_wait

__all__ = ["RequestHandler", "ResponseCallback", "Role", "Session", "SessionConfig", "SessionState", "SessionStats"]

logger = logging.getLogger("tidings.smpp")

_LENGTH_OCTETS = 4
_MIN_TICK = 0.005
_MAX_TICK = 1.0
_TICKS_PER_INTERVAL = 4


class Role(enum.Enum):
    ESME = "esme"
    """The client: binds, submits, receives deliver_sm."""
    SMSC = "smsc"
    """The server: accepts binds and submits, sends deliver_sm."""


class SessionState(enum.Enum):
    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


_S = SessionState
_C = CommandId
BOUND_STATES = frozenset({_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX})
_TRANSMIT = frozenset({_S.BOUND_TX, _S.BOUND_TRX})
_RECEIVE = frozenset({_S.BOUND_RX, _S.BOUND_TRX})
_LIVE = BOUND_STATES | {_S.OPEN}
_STATE_AFTER_BIND: dict[int, SessionState] = {_C.BIND_TRANSMITTER: _S.BOUND_TX, _C.BIND_RECEIVER: _S.BOUND_RX, _C.BIND_TRANSCEIVER: _S.BOUND_TRX}

# Requests an ESME sends (and an SMSC receives), and the states that allow them; and the reverse.
# A session that sent unbind is bound until unbind_resp: a message that crossed the unbind on the
# wire is taken, not refused (the peer may read ESME_RINVBNDSTS as "never" and drop it).
_TRANSMIT_UNTIL_UNBOUND = _TRANSMIT | {_S.UNBINDING}
_FROM_ESME: dict[int, frozenset[SessionState]] = {
    _C.BIND_TRANSMITTER: frozenset({_S.OPEN}),
    _C.BIND_RECEIVER: frozenset({_S.OPEN}),
    _C.BIND_TRANSCEIVER: frozenset({_S.OPEN}),
    _C.SUBMIT_SM: _TRANSMIT_UNTIL_UNBOUND,
    _C.DATA_SM: _TRANSMIT_UNTIL_UNBOUND,
    _C.QUERY_SM: _TRANSMIT,
    _C.CANCEL_SM: _TRANSMIT,
    _C.REPLACE_SM: _TRANSMIT,
    _C.UNBIND: BOUND_STATES,
    _C.ENQUIRE_LINK: _LIVE,
}
_RECEIVE_UNTIL_UNBOUND = _RECEIVE | {_S.UNBINDING}  # the same for a receipt or MO (see above)
_FROM_SMSC: dict[int, frozenset[SessionState]] = {
    _C.DELIVER_SM: _RECEIVE_UNTIL_UNBOUND,
    _C.DATA_SM: _RECEIVE_UNTIL_UNBOUND,
    _C.UNBIND: BOUND_STATES,
    _C.ENQUIRE_LINK: _LIVE,
}
# What a session may send: the same, but nothing new once unbinding (only answers go out then).
_SENT_BY_ESME = {command: states - {_S.UNBINDING} for command, states in _FROM_ESME.items()}
_SENT_BY_SMSC = {command: states - {_S.UNBINDING} for command, states in _FROM_SMSC.items()}
# Requests an SMSC may send an ESME that have no response: alert_notification (a handset is
# reachable again) and outbind (asks the ESME to bind on this connection; ours bind on their own).
_UNANSWERED_BY_ESME = frozenset({_C.ALERT_NOTIFICATION, _C.OUTBIND})

RequestHandler = Callable[["Session", Pdu], Awaitable[Pdu]]
"""Answers one request with its response PDU; the session sends it."""
ImmediateAnswer = Callable[["Session", Pdu], "Pdu | None"]
"""Answers a request at once when it can (its handler has nothing to wait for), else None and
the request goes to `on_request` in a task of its own."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    window: int = 10
    """Requests this side may have awaiting a response at once."""
    response_timeout: float = 30.0
    enquire_link_interval: float | None = 30.0
    """Seconds without a PDU from the peer before an enquire_link; None never sends one."""
    max_pdu_size: int = DEFAULT_MAX_PDU_SIZE
    inbound_window: int = 100
    """Requests from the peer handled at once; the next is answered with `flood_status`."""
    flood_status: int = CommandStatus.ESME_RTHROTTLED
    bind_timeout: float | None = None
    """An SMSC closes a connection that has not bound within this many seconds."""
    close_on_bind_failure: bool = True
    """An SMSC closes the connection after refusing a bind (no password guessing on one socket)."""


@dataclass(slots=True)
class SessionStats:
    pdus_received: int = 0
    requests_sent: int = 0
    responses_sent: int = 0
    generic_nacks_sent: int = 0
    throttled: int = 0
    enquire_links_sent: int = 0
    enquire_links_received: int = 0
    response_timeouts: int = 0


ResponseCallback = Callable[["Pdu | None", "BaseException | None"], None]
"""Receives a request's response PDU (whatever its command_status), or the error in its place
(`ResponseTimeout`, `SessionClosed`, `NotBound` for a queued request the session could no
longer send)."""

_Target: TypeAlias = "asyncio.Future[Pdu] | ResponseCallback"
_Pending = tuple[_Target, float, int, bool]  # future or callback, deadline, request command_id, windowed
_Queued = tuple[Pdu, ResponseCallback, bytes]  # a request_nowait PDU waiting in a lane for a slot, encoded
_SEQUENCE_AT = 12  # the offset of an encoded PDU's sequence_number (its last 4 header octets)


class Session(asyncio.Protocol):
    """An SMPP session over one transport; see the module docstring for what it guarantees."""

    def __init__(
        self,
        role: Role,
        config: SessionConfig | None = None,
        *,
        on_request: RequestHandler | None = None,
        on_unbind: Callable[[Session], Awaitable[None]] | None = None,
        on_close: Callable[[Session], None] | None = None,
        answer_now: ImmediateAnswer | None = None,
    ) -> None:
        self.role = role
        self.config = config or SessionConfig()
        self.state = SessionState.OPEN
        self.stats = SessionStats()
        self.peername: tuple[str, int] | None = None
        self._on_request = on_request
        self._answer_now = answer_now
        self._on_unbind = on_unbind
        self._on_close = on_close
        self._outbound = _SENT_BY_ESME if role is Role.ESME else _SENT_BY_SMSC
        self._inbound = _FROM_SMSC if role is Role.ESME else _FROM_ESME
        self._unanswered = _UNANSWERED_BY_ESME if role is Role.ESME else frozenset()
        self._binding = False  # a bind request is being handled
        self._stopping = False  # `unbind` was called: no new request is taken
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._sequence = 0
        self._pending: dict[int, _Pending] = {}
        self._in_flight = 0
        # Each lane holds coroutines waiting for a slot (futures) and request_nowait requests.
        self._slot_waiters: deque[asyncio.Future[None] | _Queued] = deque()
        self._priority_slot_waiters: deque[asyncio.Future[None] | _Queued] = deque()
        self._idle_waiter: asyncio.Future[None] | None = None  # set when no request awaits a response
        self._inbound_tasks: set[asyncio.Task[None]] = set()
        self._write_buffer: list[bytes] = []
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._connected_at = self._last_received = self._loop.time()
        self._enquire_link_outstanding = False
        intervals = [self.config.response_timeout, self.config.enquire_link_interval, self.config.bind_timeout]
        shortest = min(interval for interval in intervals if interval is not None)
        self._tick_interval = max(_MIN_TICK, min(_MAX_TICK, shortest / _TICKS_PER_INTERVAL))

    # -- public surface -----------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state in BOUND_STATES

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def in_flight(self) -> int:
        """Window slots in use: requests sent and not yet answered or timed out."""
        return self._in_flight

    async def send_request(self, pdu: Pdu, *, priority: bool = False) -> asyncio.Future[Pdu]:
        """Wait for a window slot, send `pdu` with a fresh sequence number, return the response future.

        The future resolves to the response PDU whatever its command_status (a generic_nack
        included), or fails with `ResponseTimeout` or `SessionClosed`. Raises `NotBound` at once
        when the current state does not allow the request. A `priority` request (a verification
        code) gets the next free slot before every ordinary request already waiting. Raises
        `EncodeError` (nothing sent, the slot given back) when `pdu` cannot be encoded.
        """
        self._check_new_request(pdu.command_id)
        await self._acquire_slot(priority)
        try:
            if self._write_paused:
                await self._writable()
            self._check_can_send(pdu.command_id)
            return self._send(pdu, windowed=True)
        except BaseException:
            self._release_slot()
            raise

    def request_nowait(self, pdu: Pdu, callback: ResponseCallback, *, priority: bool = False) -> None:
        """Send `pdu` now if a window slot is free, else as soon as one frees (in the same order
        as `send_request`'s waiters, the priority lane first); `callback` gets the response or
        the error in its place. Raises `NotBound` or `SessionClosed` at once when the current
        state does not allow the request, `EncodeError` when `pdu` cannot be encoded (it takes
        no slot then); the callback is then never called.

        Queued requests are not held back by a paused transport: the window bounds what can be
        written ahead of the peer's answers."""
        self._check_new_request(pdu.command_id)
        ahead = self._priority_slot_waiters if priority else (self._priority_slot_waiters or self._slot_waiters)
        if self._in_flight < self.config.window and not ahead:
            self._send(pdu, windowed=True, target=callback)  # encoded before anything is taken
            self._in_flight += 1
        else:
            lane = self._priority_slot_waiters if priority else self._slot_waiters
            lane.append((pdu, callback, pdu.encode()))  # numbered when it goes out

    def withdraw_queued(self, error: Exception, keep: Callable[[Pdu], bool] | None = None) -> int:
        """Take back the `request_nowait` requests still waiting for a window slot (none of them
        was written) and hand each callback `error`; returns how many. `keep` sees each queued
        PDU once, in the order they would have gone out, and holds back those it returns True for
        (they go out as slots free). Coroutines waiting in `send_request` keep waiting."""
        withdrawn: list[_Queued] = []
        for lane in (self._priority_slot_waiters, self._slot_waiters):
            staying: deque[asyncio.Future[None] | _Queued] = deque()
            for waiter in lane:
                if isinstance(waiter, tuple) and not (keep is not None and keep(waiter[0])):
                    withdrawn.append(waiter)
                else:
                    staying.append(waiter)
            lane.clear()
            lane.extend(staying)
        for _, callback, _ in withdrawn:
            self._resolve(callback, None, error)
        return len(withdrawn)

    async def request(self, pdu: Pdu, *, priority: bool = False) -> Pdu:
        """Send `pdu` and return its response; an error status or a generic_nack raises `CommandStatusError`
        (`BindError` for a bind)."""
        response = await (await self.send_request(pdu, priority=priority))
        if response.command_status or response.command_id == _C.GENERIC_NACK:
            error = BindError if pdu.command_id in BIND_COMMANDS else CommandStatusError
            raise error(response.command_status or CommandStatus.ESME_RUNKNOWNERR, pdu.command_id)
        return response

    async def unbind(self, timeout: float | None = None) -> None:
        """Let requests in flight finish (taking no new ones: `NotBound`), send unbind, wait for
        unbind_resp, answer the peer's requests still being handled, close."""
        limit = self.config.response_timeout if timeout is None else timeout
        self._stopping = True
        try:
            if self.bound:
                if self._pending:
                    await self._answered_all(limit)
                if self.bound:
                    future = self._send(Unbind(), windowed=False)
                    self._unbinding()
                    async with asyncio.timeout(limit):
                        await future
        except (TimeoutError, SessionClosed, ResponseTimeout):
            logger.info("smpp %s: unbind not acknowledged, closing", self.peername)
        finally:
            # The peer's requests still being handled (a submit_sm being stored, a receipt being
            # written) get their answers before the connection goes: a lost answer makes the
            # peer send again what was already taken.
            if self._inbound_tasks and not self.closed:
                await asyncio.wait(list(self._inbound_tasks), timeout=limit)
            self.close()
            await self.wait_closed(limit)

    def close(self) -> None:
        """Flush what is written and close the connection (no unbind)."""
        if self._transport is not None and not self._transport.is_closing():
            self._flush()
            self._transport.close()

    async def wait_closed(self, handler_timeout: float | None = None) -> None:
        """Wait for the connection to be gone and every request handler to have finished.

        Handlers still running after `handler_timeout` seconds are cancelled.
        """
        await asyncio.shield(self._closed)
        if self._inbound_tasks:
            _, stuck = await asyncio.wait(list(self._inbound_tasks), timeout=handler_timeout)
            if stuck:
                logger.warning("smpp %s: cancelled %d request handlers still running", self.peername, len(stuck))
                with contextlib.suppress(Exception):  # a handler's own error was logged where it was raised
                    await cancel_and_wait(stuck)

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peername = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._connected_at = self._last_received = self._loop.time()
        self._timer = self._loop.call_later(self._tick_interval, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = SessionState.CLOSED
        self._transport = None
        self._write_buffer.clear()
        if self._timer is not None:
            self._timer.cancel()
        pending, self._pending = self._pending, {}
        for target, _, command_id, _ in pending.values():
            closed = SessionClosed(f"session closed before the {_C(command_id).name.lower()} response")
            self._resolve(target, None, closed)
        self._in_flight = 0
        self._wake_idle_waiter()
        waiters = [*self._priority_slot_waiters, *self._slot_waiters, *self._drain_waiters]
        self._priority_slot_waiters.clear()
        self._slot_waiters.clear()
        self._drain_waiters.clear()
        for waiter in waiters:
            if isinstance(waiter, tuple):
                self._resolve(waiter[1], None, SessionClosed("session closed before the request was sent"))
            elif not waiter.done():
                waiter.set_exception(SessionClosed("session closed"))
        if not self._closed.done():
            self._closed.set_result(None)
        if exc is not None:
            logger.info("smpp %s: connection lost: %s", self.peername, exc)
        if self._on_close is not None:
            try:
                self._on_close(self)
            except Exception:
                logger.exception("smpp %s: close callback failed", self.peername)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
        self._last_received = self._loop.time()
        size = len(data)
        pos = 0
        max_size = self.config.max_pdu_size
        while size - pos >= _LENGTH_OCTETS:
            length = int.from_bytes(data[pos : pos + _LENGTH_OCTETS], "big")
            if length < HEADER_SIZE or length > max_size:
                self._reject_frame(length, data[pos : pos + HEADER_SIZE])
                return
            end = pos + length
            if end > size:
                break
            self._handle_frame(data[pos:end])
            pos = end
            if self._transport is None or self._transport.is_closing():
                return
        self._buffer = data[pos:] if pos < size else b""

    # -- inbound ---------------------------------------------------------------------------------

    def _reject_frame(self, length: int, head: bytes) -> None:
        sequence = int.from_bytes(head[12:HEADER_SIZE], "big") if len(head) == HEADER_SIZE else 0
        logger.warning("smpp %s: command_length %d outside 16..%d, closing", self.peername, length, self.config.max_pdu_size)
        self._write_response(GenericNack(sequence_number=sequence, command_status=CommandStatus.ESME_RINVCMDLEN))
        self._buffer = b""
        self.close()

    def _handle_frame(self, frame: bytes) -> None:
        self.stats.pdus_received += 1
        try:
            pdu = decode(frame)
        except PduError as exc:
            self._on_malformed(exc, frame)
            return
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT:
            self._on_response(pdu)
            return
        allowed = self._inbound.get(command_id)
        if allowed is None:
            nack = GenericNack(sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVCMDID)
            self._write_response(nack)
        elif self.state not in allowed:
            bound_again = command_id in BIND_COMMANDS and self.state in BOUND_STATES
            status = CommandStatus.ESME_RALYBND if bound_again else CommandStatus.ESME_RINVBNDSTS
            self._write_response(pdu.response(status))
        elif command_id == _C.ENQUIRE_LINK:
            self.stats.enquire_links_received += 1
            self._write_response(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif command_id == _C.UNBIND:
            self._unbinding()
            self._spawn(self._answer_unbind(pdu))
        elif command_id in BIND_COMMANDS:
            if self._binding:  # a second bind before the first is answered: one bind per connection
                self._write_response(pdu.response(CommandStatus.ESME_RALYBND))
            else:
                self._binding = True
                self._spawn(self._answer_bind(pdu))
        elif len(self._inbound_tasks) >= self.config.inbound_window:
            self.stats.throttled += 1
            self._write_response(pdu.response(self.config.flood_status))
        elif self._answer_now is None or not self._answered_now(pdu):
            self._spawn(self._answer(pdu))

    def _on_malformed(self, error: PduError, frame: bytes) -> None:
        command_id, sequence = error.command_id, error.sequence_number
        if command_id in self._unanswered:
            name = _C(command_id).name.lower()
            logger.info("smpp %s: %s #%s received and ignored (it has no response)", self.peername, name, sequence)
            return
        logger.warning("smpp %s: malformed PDU: %s", self.peername, error)
        if command_id is not None and command_id & RESPONSE_BIT and sequence in self._pending:
            cls = PDU_CLASSES.get(command_id)
            if cls is not None and issubclass(cls, MessageIdResponse):
                # Its status is readable: the peer did what it says (a submit_sm taken and sent
                # again would reach the handset twice); only the message_id is lost.
                status = int.from_bytes(frame[8:12], "big")
                logger.warning("smpp %s: %s #%d taken as status 0x%08X without its message_id",
                               self.peername, cls.__name__, sequence, status)
                self._on_response(cls(sequence_number=sequence, command_status=status))
                return
            self._settle(sequence, error)
        self._write_response(error_response(error))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._inbound_tasks.add(task)
        task.add_done_callback(self._inbound_tasks.discard)

    def _answered_now(self, request: Pdu) -> bool:
        """Answer `request` in place when `answer_now` can: no task, no wait for the loop's next
        turn (a task per submit_sm was ~4 % of a sandbox SMSC's CPU under load)."""
        assert self._answer_now is not None
        try:
            response = self._answer_now(self, request)
        except Exception:
            logger.exception("smpp %s: %s handler failed", self.peername, request.command_name)
            response = request.response(CommandStatus.ESME_RSYSERR)
        if response is None:
            return False
        response.sequence_number = request.sequence_number
        self._write_response(response)
        return True

    async def _answer(self, request: Pdu) -> None:
        command_id = request.command_id
        try:
            if self._on_request is None:
                response = request.response(CommandStatus.ESME_RINVCMDID)
            else:
                response = await self._on_request(self, request)
                if response.command_id != command_id | RESPONSE_BIT and response.command_id != _C.GENERIC_NACK:
                    raise TypeError(f"handler answered {request.command_name} with {response.command_name}")
        except Exception:
            logger.exception("smpp %s: %s handler failed", self.peername, request.command_name)
            response = request.response(CommandStatus.ESME_RSYSERR)
        response.sequence_number = request.sequence_number
        refused = False
        if command_id in BIND_COMMANDS:
            if response.command_status == CommandStatus.ESME_ROK:
                if self.state is SessionState.OPEN:
                    self.state = _STATE_AFTER_BIND[command_id]
                else:
                    response.command_status = CommandStatus.ESME_RALYBND
            refused = response.command_status != CommandStatus.ESME_ROK and self.config.close_on_bind_failure
        self._write_response(response)
        if refused and not self.bound:
            self.close()

    async def _answer_bind(self, request: Pdu) -> None:
        try:
            await self._answer(request)
        finally:
            self._binding = False

    async def _answer_unbind(self, request: Pdu) -> None:
        current = asyncio.current_task()
        others = [task for task in self._inbound_tasks if task is not current]
        if others:
            await asyncio.wait(others, timeout=self.config.response_timeout)
        if self._on_unbind is not None:
            try:
                await self._on_unbind(self)
            except Exception:
                logger.exception("smpp %s: unbind callback failed", self.peername)
        self._write_response(UnbindResp(sequence_number=request.sequence_number))
        if self._pending:  # what the peer is still answering (it answers before it closes)
            self._flush()
            await self._answered_all(self.config.response_timeout)
        self.close()

    def _on_response(self, response: Pdu) -> None:
        entry = self._pending.pop(response.sequence_number, None)
        if entry is None:
            logger.warning("smpp %s: unexpected %s #%d", self.peername, response.command_name, response.sequence_number)
            return
        target, _, request_id, windowed = entry
        if not self._pending:
            self._wake_idle_waiter()
        if windowed:
            self._release_slot()
        if response.command_id != request_id | RESPONSE_BIT and response.command_id != _C.GENERIC_NACK:
            error = PduError(CommandStatus.ESME_RINVCMDID, f"{response.command_name} does not answer 0x{request_id:08X}")
            self._resolve(target, None, error)
            return
        if request_id in BIND_COMMANDS and response.command_status == CommandStatus.ESME_ROK and self.state is SessionState.OPEN:
            self.state = _STATE_AFTER_BIND[request_id]
        self._resolve(target, response, None)

    def _settle(self, sequence: int, error: Exception) -> None:
        target, _, _, windowed = self._pending.pop(sequence)
        if not self._pending:
            self._wake_idle_waiter()
        if windowed:
            self._release_slot()
        self._resolve(target, None, error)

    def _resolve(self, target: _Target, response: Pdu | None, error: BaseException | None) -> None:
        """Hand a request's outcome to whoever waits for it: a future, or a request_nowait callback."""
        if isinstance(target, asyncio.Future):
            if not target.done():
                if error is None:
                    target.set_result(response)  # type: ignore[arg-type]  # a response whenever no error
                else:
                    target.set_exception(error)
            return
        try:
            target(response, error)
        except Exception:
            logger.exception("smpp %s: response callback failed", self.peername)

    async def _answered_all(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until no request awaits a response."""
        try:
            async with asyncio.timeout(timeout):
                while self._pending:  # a queued request may take a slot that frees meanwhile
                    if self._idle_waiter is None or self._idle_waiter.done():
                        self._idle_waiter = self._loop.create_future()
                    await asyncio.shield(self._idle_waiter)
        except TimeoutError:
            pass

    def _wake_idle_waiter(self) -> None:
        waiter = self._idle_waiter
        if waiter is not None:
            self._idle_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- outbound --------------------------------------------------------------------------------

    def _unbinding(self) -> None:
        """Unbind sent or received: from here on only answers go out. The requests still waiting
        for a window slot were never written: they fail with `NotBound`, to be sent again later."""
        self.state = SessionState.UNBINDING
        self.withdraw_queued(NotBound("unbinding: the request was not sent"))

    def _check_new_request(self, command_id: int) -> None:
        self._check_can_send(command_id)
        if self._stopping:
            raise NotBound(f"cannot send {_C(command_id).name.lower()}: unbinding")

    def _check_can_send(self, command_id: int) -> None:
        allowed = self._outbound.get(command_id)
        if allowed is None:
            raise PduError(CommandStatus.ESME_RINVCMDID, f"an {self.role.name} does not send 0x{command_id:08X}")
        if self.state not in allowed:
            if self.state is SessionState.CLOSED:
                raise SessionClosed("session is closed")
            raise NotBound(f"cannot send {_C(command_id).name.lower()} while {self.state.value}")

    @overload
    def _send(self, pdu: Pdu, *, windowed: bool, target: None = None) -> asyncio.Future[Pdu]: ...
    @overload
    def _send(self, pdu: Pdu, *, windowed: bool, target: ResponseCallback, encoded: bytes | None = None) -> None: ...

    def _send(self, pdu: Pdu, *, windowed: bool, target: ResponseCallback | None = None,
              encoded: bytes | None = None) -> asyncio.Future[Pdu] | None:
        """Number and write `pdu` (`encoded` already, but for its sequence number); its response
        goes to `target`, or to the future returned. An `EncodeError` leaves nothing behind."""
        sequence = self._sequence
        while True:
            sequence = sequence + 1 if sequence < MAX_SEQUENCE_NUMBER else 1
            if sequence not in self._pending:
                break
        pdu.sequence_number = sequence
        if encoded is None:
            data = pdu.encode()
        else:
            data = encoded[:_SEQUENCE_AT] + sequence.to_bytes(4, "big") + encoded[HEADER_SIZE:]
        self._sequence = sequence
        future: asyncio.Future[Pdu] | None = None
        waiting: _Target = target if target is not None else (future := self._loop.create_future())
        self._pending[sequence] = (waiting, self._loop.time() + self.config.response_timeout, pdu.command_id, windowed)
        self.stats.requests_sent += 1
        self._write(data)
        return future

    def _write_response(self, pdu: Pdu) -> None:
        self.stats.responses_sent += 1
        if pdu.command_id == _C.GENERIC_NACK:
            self.stats.generic_nacks_sent += 1
        self._write(pdu.encode())

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._write_buffer.append(data)
        if len(self._write_buffer) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        buffer = self._write_buffer
        if buffer and self._transport is not None:
            self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))
        buffer.clear()

    async def _writable(self) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    async def _acquire_slot(self, priority: bool = False) -> None:
        ahead = self._priority_slot_waiters if priority else (self._priority_slot_waiters or self._slot_waiters)
        if self._in_flight < self.config.window and not ahead:
            self._in_flight += 1
            return
        if self.state is SessionState.CLOSED:
            raise SessionClosed("session is closed")
        waiter: asyncio.Future[None] = self._loop.create_future()
        (self._priority_slot_waiters if priority else self._slot_waiters).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()
            raise

    def _release_slot(self) -> None:
        for lane in (self._priority_slot_waiters, self._slot_waiters):
            while lane:
                waiter = lane.popleft()
                if isinstance(waiter, tuple):
                    if self._send_queued(*waiter):
                        return  # the slot passes to the queued request
                elif not waiter.done():
                    waiter.set_result(None)  # the slot passes to the waiter
                    return
        if self._in_flight:
            self._in_flight -= 1

    def _send_queued(self, pdu: Pdu, callback: ResponseCallback, encoded: bytes) -> bool:
        """Send a request_nowait PDU that waited for a slot; False (its callback told why) when
        the session can no longer send it."""
        try:
            self._check_can_send(pdu.command_id)
        except (NotBound, SessionClosed) as exc:
            self._resolve(callback, None, exc)
            return False
        self._send(pdu, windowed=True, target=callback, encoded=encoded)
        return True

    # -- timers ----------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self._loop.time()
        if self._pending:
            expired = []
            for sequence, entry in self._pending.items():
                if entry[1] > now:
                    break
                expired.append(sequence)
            for sequence in expired:
                self.stats.response_timeouts += 1
                self._settle(sequence, ResponseTimeout(f"no response to #{sequence} within {self.config.response_timeout}s"))
        config = self.config
        if self.state is SessionState.OPEN and config.bind_timeout is not None and now - self._connected_at >= config.bind_timeout:
            logger.info("smpp %s: not bound within %ss, closing", self.peername, config.bind_timeout)
            self.close()
            return
        interval = config.enquire_link_interval
        if (
            interval is not None
            and self.state in BOUND_STATES
            and not self._enquire_link_outstanding
            and now - self._last_received >= interval
        ):
            self._send_enquire_link()
        if self._transport is not None:
            self._timer = self._loop.call_later(self._tick_interval, self._tick)

    def _send_enquire_link(self) -> None:
        self._enquire_link_outstanding = True
        self.stats.enquire_links_sent += 1
        self._send(EnquireLink(), windowed=False).add_done_callback(self._enquire_link_answered)

    def _enquire_link_answered(self, future: asyncio.Future[Pdu]) -> None:
        self._enquire_link_outstanding = False
        if future.cancelled():
            return
        if isinstance(future.exception(), ResponseTimeout):
            logger.warning("smpp %s: enquire_link unanswered, closing", self.peername)
            self.close()
