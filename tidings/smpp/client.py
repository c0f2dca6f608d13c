"""`EsmeClient`: one bind to a carrier's SMSC, kept alive in the background.

`start()` connects and binds, then a background task keeps the bind: when the connection drops it
reconnects with capped exponential backoff and jitter (`Backoff`), reset only once a session has
stayed bound for `stable_after` seconds (one enquire_link interval by default), so an SMSC that
takes the bind and drops it at once is not hammered. A refused bind is retried the same way,
except a refusal of the credentials on the first attempt (see `start`). Meanwhile `submit()` raises
`NotBound` at once, so the caller can queue the message for later or fail over to another
connection, instead of waiting on a socket that is not there.

Throughput is paced before the window: `submit()` first takes a token from the `limiter` (the
carrier's messages per second), then a window slot (the carrier's outstanding-request limit).

deliver_sm (receipts and mobile-originated messages) goes to `on_deliver_sm`, and the
deliver_sm_resp carries the status that callback returns, sent only after it returns: a callback
that stores the receipt durably before returning ESME_ROK never loses one. A callback that raises
answers ESME_RX_T_APPN, which asks the SMSC to deliver again later.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Literal

from tidings.smpp.backoff import Backoff
from tidings.smpp.constants import DEFAULT_MAX_PDU_SIZE, CommandId, CommandStatus
from tidings.smpp.errors import BindError, CommandStatusError, NotBound, PduError, SessionClosed, SessionError
from tidings.smpp.pdu import (
    BindReceiver,
    BindRequest,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from tidings.smpp.sar import numbered_text
from tidings.smpp.session import Role, Session, SessionConfig
from tidings.smpp.throttle import RateLimiter
from tidings.tasks import cancel_and_wait

__all__ = ["BindMode", "ClientState", "DeliverSmCallback", "EsmeClient", "SubmitCallback"]

logger = logging.getLogger("tidings.smpp.client")

BindMode = Literal["transmitter", "receiver", "transceiver"]
SubmitCallback = Callable[[SubmitSmResp | None, BaseException | None], None]
"""Gets a submit_sm's answer: the submit_sm_resp with status 0, or the error in its place."""
DeliverSmCallback = Callable[[DeliverSm | DataSm], Awaitable[int]]
"""Handles one deliver_sm and returns the command_status for its deliver_sm_resp. Some SMSCs send
MO and receipts as data_sm (text in the message_payload TLV), which is handled the same way."""

_STABLE_AFTER = 30.0
"""`stable_after` of a client that sends no enquire_link."""

_BIND_REQUESTS: dict[str, type[BindRequest]] = {
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
    "transceiver": BindTransceiver,
}


class ClientState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    BOUND = "bound"
    CLOSED = "closed"


class EsmeClient:
    """An ESME bound to one SMSC; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        *,
        bind: BindMode = "transceiver",
        window: int = 10,
        enquire_link_interval: float | None = 30.0,
        response_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect_delay: float = 1.0,
        reconnect_max_delay: float = 60.0,
        limiter: RateLimiter | None = None,
        on_deliver_sm: DeliverSmCallback | None = None,
        on_state_change: Callable[[ClientState], None] | None = None,
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
        max_pdu_size: int = DEFAULT_MAX_PDU_SIZE,
        inbound_window: int = 100,
        ssl: SSLContext | None = None,
        stable_after: float | None = None,
    ) -> None:
        if bind not in _BIND_REQUESTS:
            raise ValueError(f"bind must be one of {sorted(_BIND_REQUESTS)}")
        self.host = host
        self.ssl = ssl  # TLS around the connection (`tidings.smpp.tls.client_context`), or plain TCP
        self.port = port
        self.bind_mode: BindMode = bind
        self.system_id = system_id
        self._password = password
        self.system_type = system_type
        self._address = (addr_ton, addr_npi, address_range)
        self.config = SessionConfig(
            window=window,
            response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval,
            max_pdu_size=max_pdu_size,
            inbound_window=inbound_window,
        )
        self.connect_timeout = connect_timeout
        self.backoff = Backoff(reconnect_delay, max(reconnect_delay, reconnect_max_delay))
        if stable_after is None:
            stable_after = enquire_link_interval if enquire_link_interval is not None else _STABLE_AFTER
        self.stable_after = stable_after
        """Seconds a session must stay bound before the reconnect backoff starts again from its first delay."""
        self.limiter = limiter
        self._on_deliver_sm = on_deliver_sm
        self._on_state_change = on_state_change
        self.state = ClientState.DISCONNECTED
        self.session: Session | None = None
        self.last_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_attempt: asyncio.Future[None] | None = None
        self._bound = asyncio.Event()
        self._closing = False
        self._paced: set[asyncio.Task[SubmitSmResp]] = set()  # submit_nowait's waits for the limiter

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and bind, then keep the bind up in the background.

        Returns after the first attempt: bound, or not (the background task keeps trying, with
        backoff: an SMSC not reachable, or one refusing the bind for a reason of its own, such as
        ESME_RBINDFAIL for too many binds). Raises `BindError` if the SMSC refused the first
        bind's credentials (ESME_RINVPASWD, ESME_RINVSYSID: a configuration to fix), and then stops.
        """
        if self._task is not None:
            raise RuntimeError("client already started")
        loop = asyncio.get_running_loop()
        self._first_attempt = loop.create_future()
        self._task = loop.create_task(self._run())
        await asyncio.shield(self._first_attempt)

    async def wait_bound(self, timeout: float | None = None) -> None:
        """Wait until bound (raises TimeoutError after `timeout` seconds)."""
        async with asyncio.timeout(timeout):
            await self._bound.wait()

    async def aclose(self, timeout: float | None = None) -> None:
        """Unbind (letting requests in flight finish), close, and stop reconnecting."""
        self._closing = True
        session = self.session
        if session is not None:
            await session.unbind(timeout)
        await cancel_and_wait(self._task)
        self._set_state(ClientState.CLOSED)

    async def __aenter__(self) -> EsmeClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def bound(self) -> bool:
        return self.session is not None and self.session.bound

    # -- requests ----------------------------------------------------------------------------

    async def submit(self, pdu: SubmitSm, *, priority: bool = False) -> SubmitSmResp:
        """Submit one message and return the SMSC's submit_sm_resp; a `priority` one (a
        verification code) goes ahead of the ordinary ones waiting for a window slot.

        Raises `NotBound` when there is no bind (nothing was sent), `CommandStatusError` when the
        SMSC rejected it (`.transient` says whether to retry), `SessionClosed` or
        `ResponseTimeout` when the outcome is unknown.
        """
        response = await self.request(pdu, priority=priority)
        if not isinstance(response, SubmitSmResp):
            raise PduError(CommandStatus.ESME_RINVCMDID, f"submit_sm answered with {response.command_name}")
        return response

    def submit_nowait(self, pdu: SubmitSm, callback: SubmitCallback, *, priority: bool = False) -> None:
        """`submit` without a coroutine: the submit_sm goes out when a window slot is free and
        `callback` gets the SMSC's submit_sm_resp, or the error `submit` would have raised.
        Raises `NotBound` at once when there is no bind (the callback is then never called).

        With a `limiter` the request waits for its token in a task of its own (`submit`)."""
        if self.limiter is not None:
            task = asyncio.get_running_loop().create_task(self.submit(pdu, priority=priority))
            self._paced.add(task)
            task.add_done_callback(lambda done: self._paced_answered(done, callback))
            return
        session = self.session
        if session is None or not session.bound:
            raise NotBound(f"not bound to {self.host}:{self.port}")

        def answered(response: Pdu | None, error: BaseException | None) -> None:
            if error is None:
                assert response is not None
                if response.command_status or response.command_id == CommandId.GENERIC_NACK:
                    error = CommandStatusError(response.command_status or CommandStatus.ESME_RUNKNOWNERR,
                                               CommandId.SUBMIT_SM)
                elif not isinstance(response, SubmitSmResp):
                    error = PduError(CommandStatus.ESME_RINVCMDID, f"submit_sm answered with {response.command_name}")
            if error is None:
                callback(response, None)  # type: ignore[arg-type]
            else:
                callback(None, error)

        session.request_nowait(pdu, answered, priority=priority)

    def withdraw_unsent(self) -> int:
        """Take back the `submit_nowait` requests still waiting for a window slot, for a quick
        stop: each callback gets `SessionClosed`, and since none was written, sending them again
        later duplicates nothing. A later part of a concatenated message whose first part went
        out stays and is sent, so that no handset is left with part of a message. Returns how
        many were taken back. (Requests paced by a `limiter` and `submit` coroutines are not.)"""
        session = self.session
        if session is None:
            return 0
        return session.withdraw_queued(SessionClosed("withdrawn before it was sent"), keep=_rest_of_sent_messages())

    def _paced_answered(self, task: asyncio.Task[SubmitSmResp], callback: SubmitCallback) -> None:
        self._paced.discard(task)
        if task.cancelled():
            callback(None, SessionClosed("submit cancelled"))
        elif (error := task.exception()) is not None:
            callback(None, error)
        else:
            callback(task.result(), None)

    async def request(self, pdu: Pdu, *, priority: bool = False) -> Pdu:
        """Send any request this side may send (query_sm, data_sm...) through the limiter and window."""
        if self.session is None or not self.session.bound:
            raise NotBound(f"not bound to {self.host}:{self.port}")
        if self.limiter is not None:
            await self.limiter.acquire(1)
        session = self.session
        if session is None or not session.bound:
            raise NotBound(f"not bound to {self.host}:{self.port}")
        return await session.request(pdu, priority=priority)

    # -- background ----------------------------------------------------------------------------

    def _set_state(self, state: ClientState) -> None:
        if state is self.state:
            return
        self.state = state
        if state is ClientState.BOUND:
            self._bound.set()
        else:
            self._bound.clear()
        if self._on_state_change is not None:
            try:
                self._on_state_change(state)
            except Exception:
                logger.exception("smpp client %s:%s: state callback failed", self.host, self.port)

    def _settle_first_attempt(self, error: BaseException | None = None) -> None:
        first = self._first_attempt
        if first is not None and not first.done():
            if error is None:
                first.set_result(None)
            else:
                first.set_exception(error)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                self._set_state(ClientState.CONNECTING)
                try:
                    session = await self._connect_and_bind()
                except BindError as exc:
                    self.last_error = exc
                    if exc.credentials_rejected and not self._first_attempt_done():
                        logger.error("smpp client %s:%s: bind refused: %s; check system_id and password",
                                     self.host, self.port, exc)
                        self._settle_first_attempt(exc)
                        return
                    logger.warning("smpp client %s:%s: bind refused: %s; retrying with backoff",
                                   self.host, self.port, exc)
                except (OSError, TimeoutError, SessionError, PduError) as exc:
                    self.last_error = exc
                    logger.warning("smpp client %s:%s: cannot bind: %r", self.host, self.port, exc)
                else:
                    self.session = session
                    bound_at = loop.time()
                    self._set_state(ClientState.BOUND)
                    self._settle_first_attempt()
                    await session.wait_closed()
                    self.session = None
                    if self._closing:
                        break
                    if loop.time() - bound_at >= self.stable_after:
                        self.backoff.reset()  # a bind that held: the next one starts from the first delay
                    logger.warning("smpp client %s:%s: connection lost after %.1fs bound, reconnecting",
                                   self.host, self.port, loop.time() - bound_at)
                self._settle_first_attempt()
                self._set_state(ClientState.DISCONNECTED)
                await asyncio.sleep(self.backoff.next_delay())
        finally:
            self.session = None
            self._settle_first_attempt()
            self._set_state(ClientState.CLOSED if self._closing else ClientState.DISCONNECTED)

    def _first_attempt_done(self) -> bool:
        return self._first_attempt is None or self._first_attempt.done()

    async def _connect_and_bind(self) -> Session:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, session = await loop.create_connection(
                lambda: Session(Role.ESME, self.config, on_request=self._answer), self.host, self.port,
                ssl=self.ssl, server_hostname=self.host if self.ssl is not None else None,
            )
        try:
            addr_ton, addr_npi, address_range = self._address
            bind = _BIND_REQUESTS[self.bind_mode](
                system_id=self.system_id,
                password=self._password,
                system_type=self.system_type,
                addr_ton=addr_ton,
                addr_npi=addr_npi,
                address_range=address_range,
            )
            await session.request(bind)
        except BaseException:
            session.close()
            raise
        return session

    async def _answer(self, session: Session, pdu: Pdu) -> Pdu:
        if not isinstance(pdu, DeliverSm | DataSm):
            return GenericNack(sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVCMDID)
        if self._on_deliver_sm is None:
            return pdu.response(CommandStatus.ESME_ROK)
        try:
            status = await self._on_deliver_sm(pdu)
        except Exception:
            logger.exception("smpp client %s:%s: deliver_sm callback failed", self.host, self.port)
            status = CommandStatus.ESME_RX_T_APPN
        return pdu.response(status)


def _rest_of_sent_messages() -> Callable[[Pdu], bool]:
    """For `Session.withdraw_queued`, seeing queued PDUs in order: True for a later part of a
    concatenated message whose first part is not among them (so it was written)."""
    withdrawn: set[tuple[str, int]] = set()

    def keep(pdu: Pdu) -> bool:
        if not isinstance(pdu, SubmitSm):
            return False
        numbering, _ = numbered_text(pdu)
        if numbering is None or numbering.total <= 1:
            return False
        message = (pdu.destination_addr, numbering.reference)
        if numbering.sequence == 1 or message in withdrawn:
            withdrawn.add(message)
            return False
        return True

    return keep
