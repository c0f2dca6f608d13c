"""A customer's ESME for the tests: the third-party, blocking `smpplib` client, with a reader
thread collecting what the gateway sends (submit_sm_resp, deliver_sm, generic_nack) and async
helpers that run its blocking calls in a thread and wait for what arrives."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp


@dataclass
class Response:
    command: str
    sequence: int
    status: int
    message_id: str


class Esme:
    def __init__(self, port: int, system_id: str, password: str) -> None:
        self.system_id = system_id
        self.password = password
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
        self.responses: dict[int, Response] = {}
        self.delivered: list[Any] = []
        self.nacks: list[Response] = []
        self.deliver_status = smpplib.consts.SMPP_ESME_ROK
        self.on_deliver: Callable[[Any], int | None] | None = None
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._closing = False
        self.closed_by_peer = threading.Event()
        self.client.set_message_sent_handler(self._sent)
        self.client.set_message_received_handler(self._received)
        self.client.set_error_pdu_handler(self._error)

    # -- reader thread ------------------------------------------------------------------------

    def _sent(self, pdu: Any, **_: Any) -> None:
        with self._lock:
            message_id = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else (pdu.message_id or "")
            self.responses[pdu.sequence] = Response(pdu.command, pdu.sequence, int(pdu.status), message_id)

    def _received(self, pdu: Any, **_: Any) -> int:
        with self._lock:
            self.delivered.append(pdu)
        if self.on_deliver is not None:
            status = self.on_deliver(pdu)
            if status is not None:
                return status
        return self.deliver_status

    def _error(self, pdu: Any) -> None:
        if pdu.command == "generic_nack":
            with self._lock:
                self.nacks.append(Response(pdu.command, pdu.sequence, int(pdu.status), ""))

    def _read(self) -> None:
        while not self._closing:
            try:
                self.client.read_once()
            except (smpplib.exceptions.ConnectionError, OSError, AttributeError):
                break
        if not self._closing:
            self.closed_by_peer.set()

    # -- blocking API ------------------------------------------------------------------------

    def bind_sync(self, mode: str = "transceiver") -> None:
        self.client.connect()
        getattr(self.client, f"bind_{mode}")(system_id=self.system_id, password=self.password)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close_sync(self) -> None:
        """Drop the connection without unbinding (a crashed customer)."""
        self._closing = True
        if self.client._socket is not None:
            try:
                self.client._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(10)
        self.client.disconnect()

    def submit_sync(self, text: str = "", *, to: str = "46700000001", source: str = "Acme",
                    source_ton: int = smpplib.consts.SMPP_TON_ALNUM, source_npi: int = 0,
                    registered_delivery: int = 1, **fields: Any) -> list[int]:
        """Submit `text` as a customer would (split by smpplib when long); the sequence numbers."""
        if "short_message" in fields:
            parts, coding, esm_class = [fields.pop("short_message")], fields.pop("data_coding", 0), 0
        else:
            parts, coding, esm_class = smpplib.gsm.make_parts(text)
        sequences = []
        for part in parts:
            pdu = self.client.send_message(
                source_addr_ton=source_ton, source_addr_npi=source_npi, source_addr=source,
                dest_addr_ton=fields.pop("dest_addr_ton", smpplib.consts.SMPP_TON_INTL),
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN, destination_addr=to,
                short_message=part, data_coding=coding, esm_class=fields.pop("esm_class", esm_class),
                registered_delivery=registered_delivery, **fields,
            )
            sequences.append(pdu.sequence)
        return sequences

    def send_raw_sync(self, data: bytes) -> None:
        self.client._socket.sendall(data)

    # -- async helpers -------------------------------------------------------------------------

    async def bind(self, mode: str = "transceiver") -> None:
        await asyncio.to_thread(self.bind_sync, mode)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    async def submit(self, text: str = "", **kwargs: Any) -> list[Response]:
        """Submit and wait for every part's submit_sm_resp."""
        sequences = await asyncio.to_thread(self.submit_sync, text, **kwargs)
        return [await self.response(seq) for seq in sequences]

    async def response(self, sequence: int, timeout: float = 15.0) -> Response:
        async with asyncio.timeout(timeout):
            while sequence not in self.responses:
                await asyncio.sleep(0.01)
        return self.responses[sequence]

    async def deliveries(self, count: int, timeout: float = 30.0,
                         where: Callable[[Any], bool] = lambda pdu: True) -> list[Any]:
        """The first `count` deliver_sm matching `where`, once they have arrived."""
        async with asyncio.timeout(timeout):
            while True:
                with self._lock:
                    found = [pdu for pdu in self.delivered if where(pdu)]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.02)


def is_receipt(pdu: Any) -> bool:
    return bool(int(pdu.esm_class) & 0x04)


def receipt_id(pdu: Any) -> str:
    value = pdu.receipted_message_id
    return value.decode() if isinstance(value, bytes) else str(value)


def text(pdu: Any) -> str:
    raw = pdu.short_message or b""
    if int(pdu.esm_class) & 0x40:
        raw = raw[raw[0] + 1:]
    if int(pdu.data_coding) == smpplib.consts.SMPP_ENCODING_ISO10646:
        return raw.decode("utf-16-be")
    return raw.decode("latin-1")
