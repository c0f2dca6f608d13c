"""The gateway's `SmppServer` handler: who may bind, and what a submit_sm does.

- bind_transmitter / bind_receiver / bind_transceiver: the system_id must name an account
  (ESME_RINVSYSID) and the password match its hash (ESME_RINVPASWD); a refused bind closes the
  connection. A bound session gets the account's window (its inbound window: the next submit_sm
  beyond it is answered ESME_RMSGQFUL by the session) and its own token bucket at the account's
  throughput (beyond it: ESME_RTHROTTLED).
- submit_sm: read by `submit.parse_submit`; a whole message (one PDU, or every part of a
  concatenated one) becomes one batch through `do_send`, with its `smpp_batches` row in the same
  transaction when it asks for a receipt. The submit_sm_resp message_id is the batch id.
- query_sm: the message_state of one of the account's batches, by batch id.

Bound receivers (receiver or transceiver sessions) are listed per system_id for the sender.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select

from tidings.actions.batches import do_send
from tidings.core.errors import RequestError
from tidings.core.secrets import secret_matches
from tidings.core.statuses import Status
from tidings.gateway.deliver import RECEIPT_STATES
from tidings.gateway.submit import (
    Assembled,
    Reassembler,
    Submission,
    SubmitRefused,
    parse_submit,
    receipt_wanted,
    send_payload,
    status_for,
    text_of,
)
from tidings.policy.gate import shared_cache
from tidings.runtime.context import Context
from tidings.smpp.constants import CommandStatus, MessageState
from tidings.smpp.pdu import BindRequest, QuerySm, QuerySmResp, SubmitSm
from tidings.smpp.receipt import RECEIPT_TEXT_CHARS
from tidings.smpp.server import ServerSession, SmppHandler
from tidings.smpp.session import SessionState
from tidings.smpp.throttle import TokenBucket
from tidings.store import gateway as gq
from tidings.store.gateway_schema import smpp_batches
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
    def __init__(self, ctx: Context, *, reassembly_timeout: float = 30.0,
                 on_bound: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.reassembler = Reassembler(reassembly_timeout)
        self.on_bound = on_bound
        self.binds: dict[ServerSession, Bind] = {}

    # -- binds -----------------------------------------------------------------------------------

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        async with self.ctx.db.read() as conn:
            account = await gq.account(conn, pdu.system_id)
        if account is None:
            return CommandStatus.ESME_RINVSYSID
        if not secret_matches(pdu.password, account.password_hash):
            return CommandStatus.ESME_RINVPASWD
        async with self.ctx.db.write() as conn:
            await gq.mark_bound(conn, account.system_id, self.ctx.clock())
        session.config = dataclasses.replace(session.config, inbound_window=max(1, account.window))
        rate = max(1, account.throughput)
        self.binds[session] = Bind(account, TokenBucket(rate, burst=max(1.0, rate / 10)))
        if self.on_bound is not None:
            # The session counts as bound once this answer is written: look at the outbox after.
            asyncio.get_running_loop().call_soon(self.on_bound)
        return CommandStatus.ESME_ROK

    def handle_disconnect(self, session: ServerSession) -> None:
        self.binds.pop(session, None)

    def receivers(self) -> dict[str, list[ServerSession]]:
        """Bound sessions that take deliver_sm, per system_id."""
        found: dict[str, list[ServerSession]] = {}
        for session, bind in self.binds.items():
            if session.state in _RECEIVING:
                found.setdefault(bind.account.system_id, []).append(session)
        return found

    # -- submit_sm -------------------------------------------------------------------------------

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
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
        if not part.concatenated:
            return await self._send(bind.account, [part], (pdu.source_addr_ton, pdu.source_addr_npi,
                                                           pdu.dest_addr_ton, pdu.dest_addr_npi))
        assembled: Assembled = self.reassembler.add(bind.account.system_id, part)
        if assembled.wait is not None:
            return await assembled.wait
        assert assembled.parts is not None
        try:
            answer = await self._send(bind.account, assembled.parts, (pdu.source_addr_ton, pdu.source_addr_npi,
                                                                      pdu.dest_addr_ton, pdu.dest_addr_npi))
        except BaseException:
            assembled.answer(CommandStatus.ESME_RSYSERR, "")
            raise
        assembled.answer(*answer)
        return answer

    async def _send(self, account: gq.Account, parts: Sequence[Submission],
                    tons: tuple[int, int, int, int]) -> tuple[int, str]:
        first = parts[0]
        mode = receipt_wanted(parts)
        now = self.ctx.clock()

        def related(batch_id: str) -> list[tuple[Table, list[dict[str, Any]]]]:
            if not mode:
                return []
            head = text_of(parts)[:RECEIPT_TEXT_CHARS].encode("latin-1", "replace").decode("latin-1")
            return [(smpp_batches, [{
                "batch_id": batch_id, "system_id": account.system_id, "registered_delivery": mode,
                "source_addr": first.source.lstrip("+"), "source_addr_ton": tons[0], "source_addr_npi": tons[1],
                "destination_addr": first.destination.lstrip("+"), "dest_addr_ton": tons[2],
                "dest_addr_npi": tons[3], "text_head": head, "submitted_ms": now,
            }])]

        policy = await shared_cache().get(self.ctx.db, account.project_id)
        payload = send_payload(parts, policy.smpp_purpose(account.service_plan_id))
        try:
            result = await do_send(self.ctx, account.project_id, account.service_plan_id, payload,
                                   related=related)
        except RequestError as exc:
            status = status_for(exc)
            log.info("smpp gateway: %s submit_sm refused 0x%08X: %s", account.system_id, status, exc.text)
            return status, ""
        return CommandStatus.ESME_ROK, result.batch.id

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

    def close(self) -> None:
        self.reassembler.close()
