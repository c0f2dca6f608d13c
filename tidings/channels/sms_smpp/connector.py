"""One named SMPP connection to an SMSC, as an SMS connector.

Sending: each part is a submit_sm through the ESME client's window, paced by the connection's
throughput cap, its validity_period the time left until the message's expiry as the part leaves
the cap (`transcode`); the SMSC's answer is mapped to our errors (throttling and system errors: try
later; anything else: the recipient fails with the SMPP status as its code). Receiving: receipts
and MO (in deliver_sm, or data_sm from SMSCs that use it) are written durably through the
outcome writer before they are answered, so an SMSC redelivers anything we could have lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable

from tidings.channels.base import OutboundSms, SendCallback, in_task
from tidings.channels.sms_smpp.inbound import mo_event, receipt_event
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.config import SmppConnectionSettings
from tidings.core.errors import ExpiredBeforeSending, PermanentDeliveryError, TransientDeliveryError
from tidings.queue.base import Limiter
from tidings.queue.local_limiter import LocalTokenBucket
from tidings.smpp.client import EsmeClient, SubmitCallback
from tidings.smpp.constants import CommandStatus, is_transient
from tidings.smpp.errors import CommandStatusError, SmppError
from tidings.smpp.pdu import DataSm, DeliverSm, SubmitSmResp
from tidings.smpp.receipt import receipt_from_pdu
from tidings.smpp.times import validity_period
from tidings.smpp.tls import client_context
from tidings.workers.writer import OutcomeWriter

log = logging.getLogger(__name__)

THROTTLED_RETRY_SECONDS = 1.0


class SmppConnector:
    def __init__(self, settings: SmppConnectionSettings, writer: OutcomeWriter, clock: Callable[[], int],
                 *, limiter: Limiter | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        self._writer = writer
        self._clock = clock
        if limiter is None and settings.throughput > 0:
            limiter = LocalTokenBucket(settings.throughput, burst=max(1.0, settings.throughput / 10))
        self._limiter = limiter
        self._pacing: set[asyncio.Task[list[str]]] = set()  # `submit`s waiting under the cap
        self._references = itertools.cycle(range(random.randrange(256), random.randrange(256) + 256))
        self.client = EsmeClient(
            settings.host, settings.port, system_id=settings.system_id, password=settings.password,
            system_type=settings.system_type, window=settings.window,
            enquire_link_interval=settings.enquire_link_interval,
            on_deliver_sm=self._on_deliver_sm,
            ssl=client_context(settings.tls_ca_file, verify=settings.tls_verify) if settings.tls else None,
        )

    @property
    def ready(self) -> bool:
        return self.client.bound

    async def start(self) -> None:
        await self.client.start()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, message: OutboundSms) -> list[str]:
        return await self._send(message, withdrawable=False)

    async def _send(self, message: OutboundSms, *, withdrawable: bool) -> list[str]:
        """Every part through the cap and the window; the parts' SMSC ids. A `withdrawable` send
        (a task of `submit`'s) may be cancelled by `withdraw_unsent` while it waits under the
        cap, when nothing of it was sent yet."""
        pdus = submit_pdus(message, next(self._references) & 0xFF, self.settings.long_messages, now_ms=self._clock())
        if self._limiter is not None:
            task = asyncio.current_task() if withdrawable else None
            if task is not None:
                self._pacing.add(task)
            try:
                await self._limiter.acquire(len(pdus), priority=message.priority)
            finally:
                if task is not None:
                    self._pacing.discard(task)
            if message.expire_at_ms is not None:  # the time left, counted from now: not from before the wait
                now = self._clock()
                if now >= message.expire_at_ms:
                    raise ExpiredBeforeSending(f"{self.name}: expire_at passed while the message waited for "
                                               "the throughput cap")
                validity = validity_period(message.expire_at_ms, now)
                for pdu in pdus:
                    pdu.validity_period = validity
        priority = message.priority
        try:
            if len(pdus) == 1:
                responses = [await self.client.submit(pdus[0], priority=priority)]
            else:
                responses = list(await asyncio.gather(*(self.client.submit(p, priority=priority) for p in pdus)))
        except SmppError as exc:
            raise _delivery_error(self.name, exc) from exc
        ids = []
        for response in responses:
            if response.command_status != CommandStatus.ESME_ROK:
                raise _refusal(self.name, response.command_status)
            ids.append(response.message_id)
        return ids

    def submit(self, message: OutboundSms, done: SendCallback) -> None:
        """`send` without a coroutine: each part goes out through the window as a slot frees, and
        `done` gets the SMSC's message ids, or the error `send` would have raised. A connection
        with a throughput cap paces the message in a task of its own (`send`)."""
        if self._limiter is not None:
            in_task(self._send(message, withdrawable=True), done)
            return
        pdus = submit_pdus(message, next(self._references) & 0xFF, self.settings.long_messages, now_ms=self._clock())
        answers = _Answers(self.name, len(pdus), done)
        try:
            for index, pdu in enumerate(pdus):
                self.client.submit_nowait(pdu, answers.callback(index), priority=message.priority)
        except SmppError as exc:  # not bound: nothing (more) was sent
            answers.failed(exc)

    def withdraw_unsent(self) -> int:
        """Give back, for a quick stop, the submitted messages that have not gone out yet: those
        waiting for a window slot (`EsmeClient.withdraw_unsent`) and, under a throughput cap,
        those waiting for their turn. Each one's callback gets a transient error, so it is
        released for a later attempt. Returns how many PDUs and paced messages were taken back."""
        pacing, self._pacing = self._pacing, set()
        for task in pacing:
            task.cancel()
        return len(pacing) + self.client.withdraw_unsent()

    async def _on_deliver_sm(self, pdu: DeliverSm | DataSm) -> int:
        now = self._clock()
        try:
            receipt = receipt_from_pdu(pdu)
        except SmppError:
            log.warning("%s: receipt without a message id; acknowledged and dropped", self.name)
            return CommandStatus.ESME_ROK
        if receipt is not None:
            event = receipt_event(self.name, receipt, now)
            if event is not None:
                await self._writer.apply([event])
            return CommandStatus.ESME_ROK
        await self._writer.apply([mo_event(self.name, pdu, now)])  # a part: joined by the writer
        return CommandStatus.ESME_ROK


class _Answers:
    """Collects the submit_sm_resp of a message's parts and reports once: every part's SMSC id,
    or the first error (mapped as `send` maps it)."""

    __slots__ = ("_connection", "_ids", "_missing", "_done")

    def __init__(self, connection: str, parts: int, done: SendCallback) -> None:
        self._connection = connection
        self._ids: list[str] = [""] * parts
        self._missing = parts
        self._done: SendCallback | None = done

    def callback(self, index: int) -> SubmitCallback:
        def answered(response: SubmitSmResp | None, error: BaseException | None) -> None:
            if error is not None:
                self.failed(error)
                return
            assert response is not None
            self._ids[index] = response.message_id
            self._missing -= 1
            if self._missing == 0 and self._done is not None:
                done, self._done = self._done, None
                done(self._ids, None)
        return answered

    def failed(self, error: BaseException) -> None:
        if self._done is None:
            return  # an earlier part already reported
        done, self._done = self._done, None
        done(None, _delivery_error(self._connection, error) if isinstance(error, SmppError) else error)


def _delivery_error(connection: str, error: SmppError) -> TransientDeliveryError | PermanentDeliveryError:
    """A submit_sm's SMPP error as the pipeline's: a refusal by its status; not bound, closed or
    timed out, try again later (after a timeout the SMSC may have taken it, so a retry can
    duplicate; losing it would be worse)."""
    if isinstance(error, CommandStatusError):
        return _refusal(connection, error.command_status)
    return TransientDeliveryError(f"{connection}: {error}")


def _refusal(connection: str, status: int) -> TransientDeliveryError | PermanentDeliveryError:
    """submit_sm refused: throttling and system errors are retried later; anything else fails the
    recipient with the SMPP status as its code."""
    text = f"{connection}: submit_sm refused with {status:#x}"
    if is_transient(status):
        return TransientDeliveryError(text, retry_after=THROTTLED_RETRY_SECONDS)
    return PermanentDeliveryError(text, status)
