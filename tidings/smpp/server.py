"""`SmppServer`: an SMSC endpoint in the shape of aiosmtpd's controller.

The server owns listening, sessions and abuse limits; what an SMSC *does* lives in a handler object
whose optional hooks are looked up by name, each with a default (`SmppHandler`):

    async handle_bind(session, bind_pdu) -> int                    command_status; default ESME_ROK
    async handle_submit_sm(session, submit_sm) -> (int, str)       status, message_id; default accept
    submit_sm_now(session, submit_sm) -> (int, str) | None         optional: the same answer without
                                                                   waiting, used first when defined;
                                                                   None: handle_submit_sm answers
    async handle_query_sm(session, query_sm) -> QuerySmResp        default ESME_RQUERYFAIL
    async handle_data_sm(session, data_sm) -> (int, str)           status, message_id
    async handle_cancel_sm(session, cancel_sm) -> int              command_status
    async handle_replace_sm(session, replace_sm) -> int            command_status
                                                                   (these three optional: without
                                                                   one, generic_nack ESME_RINVCMDID)
    async handle_unbind(session) -> None                           before the unbind_resp
    handle_disconnect(session) -> None                             after the connection is gone

A bound session can push deliver_sm (receipts, mobile-originated messages) to its ESME with
`await session.deliver(pdu)`, through the same window as any request.

Abuse limits, all per connection: `max_pdu_size` (larger frames: generic_nack and close),
`bind_timeout` (no bind in time: close), a refused bind closes the connection, and
`inbound_window` requests in progress at most, the next answered with `flood_status`
(ESME_RTHROTTLED by default, or ESME_RMSGQFUL).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from ssl import SSLContext

from tidings.smpp.constants import DEFAULT_MAX_PDU_SIZE, INTERFACE_VERSION, CommandStatus, Tag
from tidings.smpp.errors import PduError
from tidings.smpp.pdu import (
    BindRequest,
    BindResponse,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitSm,
    SubmitSmResp,
)
from tidings.smpp.session import Role, Session, SessionConfig

__all__ = ["ServerSession", "SmppHandler", "SmppServer"]

logger = logging.getLogger("tidings.smpp.server")


class ServerSession(Session):
    """The SMSC side of one ESME connection."""

    def __init__(self, server: SmppServer) -> None:
        super().__init__(
            Role.SMSC,
            server.config,
            on_request=server._answer,
            on_unbind=server._unbound,
            on_close=server._closed,
            answer_now=server._answer_now if server._submit_sm_now is not None else None,
        )
        self.server = server
        self.system_id: str | None = None
        """The ESME's system_id, once bound."""
        self.system_type = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server._sessions.add(self)

    async def deliver(self, pdu: DeliverSm) -> DeliverSmResp:
        """Send a deliver_sm to the bound ESME and return its deliver_sm_resp.

        Raises `NotBound` unless bound as receiver or transceiver, and `CommandStatusError` when the
        ESME answers with an error status (`.transient` for ESME_RX_T_APPN and friends).
        """
        response = await self.request(pdu)
        if not isinstance(response, DeliverSmResp):
            raise PduError(CommandStatus.ESME_RINVCMDID, f"deliver_sm answered with {response.command_name}")
        return response


class SmppHandler:
    """Every hook with its default behaviour: accept binds and submits, know no messages."""

    def __init__(self) -> None:
        self._message_ids = itertools.count(1)

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        return CommandStatus.ESME_ROK

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        return CommandStatus.ESME_ROK, f"{next(self._message_ids):016x}"

    async def handle_query_sm(self, session: ServerSession, pdu: QuerySm) -> QuerySmResp:
        return QuerySmResp(command_status=CommandStatus.ESME_RQUERYFAIL)

    async def handle_unbind(self, session: ServerSession) -> None:
        return None

    def handle_disconnect(self, session: ServerSession) -> None:
        return None


class SmppServer:
    """Listens for ESMEs; `await start()`, `.port`, `await stop()` (or `async with`)."""

    def __init__(
        self,
        handler: object | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        system_id: str = "TIDINGS",
        window: int = 10,
        inbound_window: int = 100,
        flood_status: int = CommandStatus.ESME_RTHROTTLED,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 60.0,
        bind_timeout: float = 10.0,
        max_pdu_size: int = DEFAULT_MAX_PDU_SIZE,
        close_on_bind_failure: bool = True,
        ssl: SSLContext | None = None,
    ) -> None:
        self.handler = handler if handler is not None else SmppHandler()
        self.host = host
        self.port = port
        self.system_id = system_id
        self.ssl = ssl  # TLS around every connection (`tidings.smpp.tls.server_context`), or plain TCP
        self.config = SessionConfig(
            window=window,
            response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval,
            max_pdu_size=max_pdu_size,
            inbound_window=inbound_window,
            flood_status=flood_status,
            bind_timeout=bind_timeout,
            close_on_bind_failure=close_on_bind_failure,
        )
        defaults = SmppHandler()
        self._handle_bind: Callable[[ServerSession, BindRequest], Awaitable[int]] = getattr(
            self.handler, "handle_bind", defaults.handle_bind
        )
        self._handle_submit_sm: Callable[[ServerSession, SubmitSm], Awaitable[tuple[int, str]]] = getattr(
            self.handler, "handle_submit_sm", defaults.handle_submit_sm
        )
        # A handler whose submit_sm answer needs no waiting answers it in place, without a task.
        self._submit_sm_now: Callable[[ServerSession, SubmitSm], tuple[int, str] | None] | None = getattr(
            self.handler, "submit_sm_now", None
        )
        self._handle_query_sm: Callable[[ServerSession, QuerySm], Awaitable[QuerySmResp]] = getattr(
            self.handler, "handle_query_sm", defaults.handle_query_sm
        )
        self._handle_data_sm: Callable[[ServerSession, DataSm], Awaitable[tuple[int, str]]] | None = getattr(
            self.handler, "handle_data_sm", None
        )
        self._handle_cancel_sm: Callable[[ServerSession, CancelSm], Awaitable[int]] | None = getattr(
            self.handler, "handle_cancel_sm", None
        )
        self._handle_replace_sm: Callable[[ServerSession, ReplaceSm], Awaitable[int]] | None = getattr(
            self.handler, "handle_replace_sm", None
        )
        self._handle_unbind: Callable[[ServerSession], Awaitable[None]] = getattr(
            self.handler, "handle_unbind", defaults.handle_unbind
        )
        self._handle_disconnect: Callable[[ServerSession], None] = getattr(
            self.handler, "handle_disconnect", defaults.handle_disconnect
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[ServerSession] = set()

    @property
    def sessions(self) -> frozenset[ServerSession]:
        """Open connections, bound or not."""
        return frozenset(self._sessions)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("server already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ServerSession(self), self.host, self.port, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("smpp server listening on %s:%d", self.host, self.port)

    async def stop(self, *, unbind: bool = True, timeout: float = 5.0) -> None:
        """Stop listening; unbind bound sessions, close the rest.

        Waits up to `timeout` for unbind responses and again for request handlers still running,
        then cancels those handlers.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        sessions = list(self._sessions)
        if unbind:
            await asyncio.gather(*(session.unbind(timeout) for session in sessions if session.bound))
        for session in sessions:
            session.close()
        await asyncio.gather(*(session.wait_closed(timeout) for session in sessions))
        await server.wait_closed()

    async def __aenter__(self) -> SmppServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- session callbacks -----------------------------------------------------------------------

    async def _answer(self, session: Session, pdu: Pdu) -> Pdu:
        assert isinstance(session, ServerSession)
        if isinstance(pdu, SubmitSm):
            status, message_id = await self._handle_submit_sm(session, pdu)
            return SubmitSmResp(command_status=status, message_id=message_id if status == CommandStatus.ESME_ROK else "")
        if isinstance(pdu, BindRequest):
            return await self._bind(session, pdu)
        if isinstance(pdu, QuerySm):
            return await self._handle_query_sm(session, pdu)
        if isinstance(pdu, DataSm) and self._handle_data_sm is not None:
            status, message_id = await self._handle_data_sm(session, pdu)
            return DataSmResp(command_status=status, message_id=message_id if status == CommandStatus.ESME_ROK else "")
        if isinstance(pdu, CancelSm) and self._handle_cancel_sm is not None:
            return CancelSmResp(command_status=await self._handle_cancel_sm(session, pdu))
        if isinstance(pdu, ReplaceSm) and self._handle_replace_sm is not None:
            return ReplaceSmResp(command_status=await self._handle_replace_sm(session, pdu))
        return GenericNack(command_status=CommandStatus.ESME_RINVCMDID)

    def _answer_now(self, session: Session, pdu: Pdu) -> Pdu | None:
        if self._submit_sm_now is None or not isinstance(pdu, SubmitSm):
            return None
        assert isinstance(session, ServerSession)
        answer = self._submit_sm_now(session, pdu)
        if answer is None:
            return None
        status, message_id = answer
        return SubmitSmResp(command_status=status, message_id=message_id if status == CommandStatus.ESME_ROK else "")

    async def _bind(self, session: ServerSession, pdu: BindRequest) -> Pdu:
        status = await self._handle_bind(session, pdu)
        response = pdu.response(status)
        assert isinstance(response, BindResponse)
        response.system_id = self.system_id
        if status == CommandStatus.ESME_ROK:
            session.system_id = pdu.system_id
            session.system_type = pdu.system_type
            response.tlvs[Tag.SC_INTERFACE_VERSION] = INTERFACE_VERSION
        else:
            logger.info("smpp server: bind by %r from %s refused: 0x%08X", pdu.system_id, session.peername, status)
        return response

    async def _unbound(self, session: Session) -> None:
        assert isinstance(session, ServerSession)
        await self._handle_unbind(session)

    def _closed(self, session: Session) -> None:
        assert isinstance(session, ServerSession)
        self._sessions.discard(session)
        self._handle_disconnect(session)
