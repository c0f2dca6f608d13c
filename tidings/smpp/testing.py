"""Helpers for testing against SMPP, shipped with the package so other suites can use them.

`RecordingHandler` is an `SmppServer` handler that checks credentials and records what it
receives. `RawPeer` is a bare TCP peer that writes exact bytes and reads whole PDUs, for tests
that must send what a well-behaved client never would.
"""

from __future__ import annotations

import asyncio
import itertools

from tidings.smpp.constants import HEADER_SIZE, CommandStatus
from tidings.smpp.pdu import BindRequest, Pdu, SubmitSm, decode, read_command_length
from tidings.smpp.server import ServerSession, SmppHandler

__all__ = ["RawPeer", "RecordingHandler"]

_LENGTH_OCTETS = 4


class RecordingHandler(SmppHandler):
    """Accepts the `credentials` given (any bind when None) and records binds, submits, unbinds."""

    def __init__(self, credentials: dict[str, str] | None = None, submit_status: int = CommandStatus.ESME_ROK) -> None:
        super().__init__()
        self.credentials = credentials
        self.submit_status = submit_status
        self.binds: list[BindRequest] = []
        self.submitted: list[SubmitSm] = []
        self.unbinds = 0
        self.disconnects = 0
        self._ids = itertools.count(1)

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        self.binds.append(pdu)
        if self.credentials is None:
            return CommandStatus.ESME_ROK
        if pdu.system_id not in self.credentials:
            return CommandStatus.ESME_RINVSYSID
        if self.credentials[pdu.system_id] != pdu.password:
            return CommandStatus.ESME_RINVPASWD
        return CommandStatus.ESME_ROK

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        self.submitted.append(pdu)
        return self.submit_status, f"msg{next(self._ids):08d}"

    async def handle_unbind(self, session: ServerSession) -> None:
        self.unbinds += 1

    def handle_disconnect(self, session: ServerSession) -> None:
        self.disconnects += 1


class RawPeer:
    """A plain socket speaking SMPP frames, with no session logic at all."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> RawPeer:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: Pdu | bytes) -> None:
        self.writer.write(data.encode() if isinstance(data, Pdu) else data)
        await self.writer.drain()

    async def read_frame(self, timeout: float = 5.0) -> bytes:
        """The next whole frame; raises `asyncio.IncompleteReadError` if the peer closed."""
        async with asyncio.timeout(timeout):
            head = await self.reader.readexactly(_LENGTH_OCTETS)
            length = read_command_length(head)
            return head + await self.reader.readexactly(max(length, HEADER_SIZE) - _LENGTH_OCTETS)

    async def read_pdu(self, timeout: float = 5.0) -> Pdu:
        return decode(await self.read_frame(timeout))

    async def request(self, pdu: Pdu, timeout: float = 5.0) -> Pdu:
        """Send a request and read PDUs until the one with its sequence number."""
        await self.send(pdu)
        while True:
            response = await self.read_pdu(timeout)
            if response.sequence_number == pdu.sequence_number and response.is_response:
                return response

    async def wait_closed(self, timeout: float = 5.0) -> bool:
        """True once the peer has closed the connection (anything still unread is discarded)."""
        async with asyncio.timeout(timeout):
            while await self.reader.read(HEADER_SIZE * 64):
                pass
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
