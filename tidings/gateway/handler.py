"""The gateway's `SmppServer` handler: who may bind, and what a submit_sm does.

- bind_transmitter / bind_receiver / bind_transceiver: an address with too many failed binds is
  refused unread, one outside the account's allowed networks too (ESME_RBINDFAIL, `guard`); the
  system_id must name an account (ESME_RINVSYSID), the password match its hash
  (ESME_RINVPASWD), and the account have fewer than `max_binds` sessions bound across every
  gateway process (ESME_RBINDFAIL, `binds`); a refused bind closes the connection. A bound
  session gets the account's window (its inbound window: the next submit_sm beyond it is
  answered ESME_RMSGQFUL by the session) and its own token bucket at the account's throughput
  (beyond it: ESME_RTHROTTLED).
- submit_sm: read by `submit.parse_submit`; a whole message becomes one batch
  (`sending.send_message`), and the submit_sm_resp message_id is the batch id. A part of a
  concatenated message is stored and answered at once with the id its message's batch will have;
  the last part sends the message (`parts`).
- data_sm: as a submit_sm (the text in message_payload), answered with data_sm_resp.
- query_sm: the message_state of one of the account's batches, by batch id (ENROUTE while the
  parts of a concatenated message are still coming).
- cancel_sm, replace_sm: a message not yet sent cancelled or replaced (`amend`).

Bound receivers (receiver or transceiver sessions) are listed per system_id for the sender.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from tidings.core.secrets import secret_matches
from tidings.core.statuses import Status
from tidings.gateway import amend
from tidings.gateway.binds import BindLimits
from tidings.gateway.deliver import RECEIPT_STATES
from tidings.gateway.guard import BindGuard, allowed
from tidings.gateway.parts import send_claimed, store_part
from tidings.gateway.sending import send_message
from tidings.gateway.submit import SubmitRefused, parse_submit
from tidings.policy.fraud_store import FraudStore
from tidings.runtime.context import Context
from tidings.smpp.constants import CommandStatus, MessageState
from tidings.smpp.pdu import (
    BindRequest,
    CancelSm,
    DataSm,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SubmitSm,
)
from tidings.smpp.server import ServerSession, SmppHandler
from tidings.smpp.session import SessionState
from tidings.smpp.throttle import TokenBucket
from tidings.store import gateway as gq
from tidings.store import submit_parts as sq
from tidings.store.schema import batches, deliveries

__all__ = ["Bind", "GatewayHandler"]

log = logging.getLogger(__name__)

_RECEIVING = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})


@dataclasses.dataclass
class Bind:
    """One bound session's account and throughput bucket."""

    account: gq.Account
    bucket: TokenBucket


class GatewayHandler(SmppHandler):
    def __init__(self, ctx: Context, *, on_bound: Callable[[], None] | None = None,
                 guard_store: FraudStore | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        if guard_store is None and ctx.fraud is not None:
            guard_store = ctx.fraud.store  # the embedded profile's in-process windows
        self.guard = BindGuard(ctx.clock, guard_store)
        self.on_bound = on_bound
        self.binds: dict[ServerSession, Bind] = {}
        self.limits = BindLimits(ctx.db, ctx.clock)

    # -- binds -----------------------------------------------------------------------------------

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        address = session.peername[0] if session.peername else None
        if await self.guard.blocked(address):
            return CommandStatus.ESME_RBINDFAIL
        async with self.ctx.db.read() as conn:
            account = await gq.account(conn, pdu.system_id)
        if account is None:
            await self.guard.failed(address)
            return CommandStatus.ESME_RINVSYSID
        if not self._from_allowed_network(account, address):
            await self.guard.failed(address)
            return CommandStatus.ESME_RBINDFAIL
        if not secret_matches(pdu.password, account.password_hash):
            await self.guard.failed(address)
            return CommandStatus.ESME_RINVPASWD
        if not await self.limits.acquire(account):
            return CommandStatus.ESME_RBINDFAIL
        rate = max(1, account.throughput)
        # Registered at once, so that a connection lost from here on gives its place back.
        self.binds[session] = Bind(account, TokenBucket(rate, burst=max(1.0, rate / 10)))
        if session.closed:  # lost while the count was taken: handle_disconnect came first
            self.handle_disconnect(session)
            return CommandStatus.ESME_RBINDFAIL
        try:
            async with self.ctx.db.write() as conn:
                await gq.mark_bound(conn, account.system_id, self.ctx.clock())
        except BaseException:
            self.handle_disconnect(session)
            raise
        session.config = dataclasses.replace(session.config, inbound_window=max(1, account.window))
        if self.on_bound is not None:
            # The session counts as bound once this answer is written: look at the outbox after.
            asyncio.get_running_loop().call_soon(self.on_bound)
        return CommandStatus.ESME_ROK

    @staticmethod
    def _from_allowed_network(account: gq.Account, address: str | None) -> bool:
        try:
            if allowed(account.allowed_networks, address):
                return True
        except ValueError:
            log.error("smpp gateway: %s has allowed_networks %r, which is not a list of networks; refusing its binds",
                      account.system_id, account.allowed_networks)
            return False
        log.info("smpp gateway: bind by %s from %s, outside its allowed networks", account.system_id, address)
        return False

    def handle_disconnect(self, session: ServerSession) -> None:
        bind = self.binds.pop(session, None)
        if bind is not None:
            self.limits.release(bind.account.system_id)

    def receivers(self) -> dict[str, list[ServerSession]]:
        """Bound sessions that take deliver_sm, per system_id."""
        found: dict[str, list[ServerSession]] = {}
        for session, bind in self.binds.items():
            if session.state in _RECEIVING:
                found.setdefault(bind.account.system_id, []).append(session)
        return found

    # -- submit_sm -------------------------------------------------------------------------------

    async def handle_data_sm(self, session: ServerSession, pdu: DataSm) -> tuple[int, str]:
        return await self.handle_submit_sm(session, pdu)

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm | DataSm) -> tuple[int, str]:
        bind = self.binds.get(session)
        if bind is None:
            return CommandStatus.ESME_RINVBNDSTS, ""
        if bind.bucket.available < 1:
            return CommandStatus.ESME_RTHROTTLED, ""
        await bind.bucket.acquire()
        try:
            part = parse_submit(pdu, self.ctx.clock())
        except SubmitRefused as exc:
            log.info("smpp gateway: %s submit_sm refused 0x%08X: %s", bind.account.system_id, exc.status, exc)
            return exc.status, ""
        tons = (pdu.source_addr_ton, pdu.source_addr_npi, pdu.dest_addr_ton, pdu.dest_addr_npi)
        if not part.concatenated:
            return await send_message(self.ctx, bind.account, [part], tons)
        stored = await store_part(self.ctx.db, bind.account.system_id, part, tons, self.ctx.clock())
        if stored.claimed is None:
            return CommandStatus.ESME_ROK, stored.message_id
        try:
            return await send_claimed(self.ctx, bind.account, stored.claimed)
        except Exception:  # noqa: BLE001 - the message is stored and claimed: a parts sweeper sends it
            log.exception("smpp gateway: sending concatenated message %s failed; it is sent later",
                          stored.message_id)
            return CommandStatus.ESME_ROK, stored.message_id

    # -- cancel_sm, replace_sm ------------------------------------------------------------------

    async def handle_cancel_sm(self, session: ServerSession, pdu: CancelSm) -> int:
        bind = self.binds.get(session)
        if bind is None:
            return CommandStatus.ESME_RINVBNDSTS
        return await amend.cancel(self.ctx, bind.account, pdu)

    async def handle_replace_sm(self, session: ServerSession, pdu: ReplaceSm) -> int:
        bind = self.binds.get(session)
        if bind is None:
            return CommandStatus.ESME_RINVBNDSTS
        return await amend.replace(self.ctx, bind.account, pdu)

    # -- query_sm --------------------------------------------------------------------------------

    async def handle_query_sm(self, session: ServerSession, pdu: QuerySm) -> QuerySmResp:
        bind = self.binds.get(session)
        if bind is None:
            return QuerySmResp(command_status=CommandStatus.ESME_RINVBNDSTS)
        async with self.ctx.db.read() as conn:
            row = (await conn.execute(
                select(deliveries.c.status, deliveries.c.code, deliveries.c.status_ms)
                .select_from(deliveries.join(batches, batches.c.id == deliveries.c.batch_id))
                .where(batches.c.id == pdu.message_id, batches.c.project_id == bind.account.project_id)
                .limit(1)
            )).first()
            waiting = row is None and await sq.waiting(conn, bind.account.system_id, pdu.message_id)
        if waiting:
            return QuerySmResp(message_id=pdu.message_id, message_state=int(MessageState.ENROUTE))
        if row is None:
            return QuerySmResp(command_status=CommandStatus.ESME_RQUERYFAIL)
        status = Status(row.status)
        if status.is_final:
            state = RECEIPT_STATES[status][1]
            final_date = datetime.fromtimestamp(row.status_ms / 1000, UTC).strftime("%y%m%d%H%M%S") + "000+"
            error = 0 if status is Status.DELIVERED else min(row.code, 0xFF)
        else:
            state, final_date, error = MessageState.ENROUTE, "", 0
        return QuerySmResp(message_id=pdu.message_id, final_date=final_date, message_state=int(state),
                           error_code=error)
