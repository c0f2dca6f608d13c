"""One named SMPP connection to an SMSC, as an SMS connector.

Sending: each part is a submit_sm through the ESME client's window, paced by the connection's
throughput cap, its validity_period the time left until the message's expiry as the part leaves
the cap (`transcode`); the SMSC's answer is mapped to our errors (throttling and system errors: try
later; anything else: the recipient fails with the SMPP status as its code; a part that cannot be
encoded, such as a sender longer than source_addr takes, fails it too, with the status an SMSC
would answer). A message is reported once every part has its answer; a long one the SMSC took
in part before refusing the rest for now is retried with its other parts only (`parts`).
Concatenation references cycle through 0-255 per connection. Receiving: receipts
and MO (in deliver_sm, or data_sm from SMSCs that use it) are written durably through the
outcome writer before they are answered, so an SMSC redelivers anything we could have lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Sequence

from tidings.channels.base import OutboundSms, SendCallback, in_task
from tidings.channels.sms_smpp.inbound import mo_event, receipt_event
from tidings.channels.sms_smpp.parts import MessageParts, PartlySent
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.config import SmppConnectionSettings
from tidings.core.errors import ExpiredBeforeSending, PermanentDeliveryError, TransientDeliveryError
from tidings.queue.base import Limiter
from tidings.queue.local_limiter import LocalTokenBucket
from tidings.smpp.client import EsmeClient, SubmitCallback
from tidings.smpp.constants import CommandStatus, is_transient
from tidings.smpp.errors import CommandStatusError, EncodeError, SmppError
from tidings.smpp.pdu import DataSm, DeliverSm, SubmitSm, SubmitSmResp
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
        self._references = itertools.count(random.randrange(256))  # taken modulo 256
        self.partly_sent = PartlySent()
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

    def _plan(self, message: OutboundSms) -> tuple[list[SubmitSm], MessageParts]:
        """The message's PDUs and its parts' answers so far: none, or those an earlier attempt
        left (`parts`), whose reference the PDUs then carry again."""
        now = self._clock()
        taken = self.partly_sent.take(message.delivery_id, now)
        reference = taken.reference if taken is not None else next(self._references) & 0xFF
        pdus = submit_pdus(message, reference, self.settings.long_messages, now_ms=now)
        if taken is not None and taken.parts != len(pdus):
            taken = None
        return pdus, MessageParts(self.name, reference, len(pdus), taken)

    def _outcome(self, message: OutboundSms, parts: MessageParts) -> list[str]:
        """Every part's SMSC id once all are answered; or the first refusal's error (mapped as
        `_delivery_error` says), the parts taken kept for the retry when it is to be tried again."""
        error = parts.first_error()
        if error is None:
            return [smsc_id for smsc_id in parts.ids if smsc_id is not None]  # all of them: none refused
        mapped = _delivery_error(self.name, error) if isinstance(error, SmppError) else error
        if isinstance(mapped, TransientDeliveryError):
            self._keep_taken(message, parts)
        raise mapped

    def _keep_taken(self, message: OutboundSms, parts: MessageParts) -> None:
        """Keep the parts the SMSC took of a message to be tried again (`parts.PartlySent`)."""
        taken = parts.taken()
        if taken is not None:
            self.partly_sent.put(message.delivery_id, taken, self._clock())
            log.info("%s: delivery %s: %d of %d parts taken; the others go again under reference %d",
                     self.name, message.delivery_id, len(taken.ids), taken.parts, taken.reference)

    async def _send(self, message: OutboundSms, *, withdrawable: bool) -> list[str]:
        """Every part through the cap and the window; the parts' SMSC ids. A `withdrawable` send
        (a task of `submit`'s) may be cancelled by `withdraw_unsent` while it waits under the
        cap, when nothing of it was sent yet."""
        pdus, parts = self._plan(message)
        indexes = parts.to_send()
        if self._limiter is not None:
            task = asyncio.current_task() if withdrawable else None
            if task is not None:
                self._pacing.add(task)
            try:
                await self._limiter.acquire(len(indexes), priority=message.priority)
            except asyncio.CancelledError:  # withdrawn: no part more was sent
                self._keep_taken(message, parts)
                raise
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
        results: Sequence[SubmitSmResp | BaseException]
        if len(indexes) == 1:  # the usual one-part message: no task
            results = [await _submitted(self.client, pdus[indexes[0]], priority)]
        else:
            submits = (self.client.submit(pdus[index], priority=priority) for index in indexes)
            results = await asyncio.gather(*submits, return_exceptions=True)
        for index, result in zip(indexes, results, strict=True):
            if isinstance(result, BaseException):
                parts.answer(index, None, result)
            else:
                parts.answer(index, result, None)
        return self._outcome(message, parts)

    def submit(self, message: OutboundSms, done: SendCallback) -> None:
        """`send` without a coroutine: each part goes out through the window as a slot frees, and
        `done` gets the SMSC's message ids, or the error `send` would have raised. A connection
        with a throughput cap paces the message in a task of its own (`send`)."""
        if self._limiter is not None:
            in_task(self._send(message, withdrawable=True), done)
            return
        pdus, parts = self._plan(message)

        def answered(index: int, response: SubmitSmResp | None, error: BaseException | None) -> None:
            parts.answer(index, response, error)
            if parts.complete:
                try:
                    ids = self._outcome(message, parts)
                except Exception as exc:  # noqa: BLE001 - the outcome is an error: handed over
                    done(None, exc)
                else:
                    done(ids, None)

        indexes = parts.to_send()
        for position, index in enumerate(indexes):
            try:
                self.client.submit_nowait(pdus[index], _callback(answered, index), priority=message.priority)
            except SmppError as exc:  # not bound, or not encodable: this part and the rest are not sent
                for rest in indexes[position:]:
                    answered(rest, None, exc)
                return

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
                await self._writer.record_receipt(event)
            return CommandStatus.ESME_ROK
        await self._writer.apply([mo_event(self.name, pdu, now)])  # a part: joined by the writer
        return CommandStatus.ESME_ROK


def _callback(answered: Callable[[int, SubmitSmResp | None, BaseException | None], None],
              index: int) -> SubmitCallback:
    return lambda response, error: answered(index, response, error)


async def _submitted(client: EsmeClient, pdu: SubmitSm, priority: bool) -> SubmitSmResp | BaseException:
    """`client.submit`'s answer, or the error it raised (as `asyncio.gather` returns them)."""
    try:
        return await client.submit(pdu, priority=priority)
    except Exception as exc:  # noqa: BLE001 - handed to the message's parts as its answer
        return exc


def _delivery_error(connection: str, error: SmppError) -> TransientDeliveryError | PermanentDeliveryError:
    """A submit_sm's SMPP error as the pipeline's: a refusal by its status; a PDU that cannot be
    encoded fails for good with the status an SMSC would give (nothing was sent, and sending it
    again fails the same way); not bound, closed or timed out, try again later (after a timeout
    the SMSC may have taken it, so a retry can duplicate; losing it would be worse)."""
    if isinstance(error, CommandStatusError):
        return _refusal(connection, error.command_status)
    if isinstance(error, EncodeError):
        return PermanentDeliveryError(f"{connection}: submit_sm cannot be encoded: {error}", error.command_status)
    return TransientDeliveryError(f"{connection}: {error}")


def _refusal(connection: str, status: int) -> TransientDeliveryError | PermanentDeliveryError:
    """submit_sm refused: throttling and system errors are retried later; anything else fails the
    recipient with the SMPP status as its code."""
    text = f"{connection}: submit_sm refused with {status:#x}"
    if is_transient(status):
        return TransientDeliveryError(text, retry_after=THROTTLED_RETRY_SECONDS)
    return PermanentDeliveryError(text, status)
