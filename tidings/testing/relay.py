"""A TCP relay whose connections can be frozen, for tests of connections cut without a reset."""

from __future__ import annotations

import asyncio


class FreezingRelay:
    """A TCP relay to a server on 127.0.0.1 (Redis, PostgreSQL) whose connections can be frozen:
    they stay open and carry nothing, as when a host or the network between goes away without a
    reset. New connections relay, unless the relay is `cut()` (the network gone: they are
    accepted and carry nothing either) until it is `heal()`ed."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen: list[asyncio.Event] = []  # per connection: set = frozen
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()  # set: frozen connections let go and close
        self._cut = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, target_url: str) -> str:
        """`target_url` (a URL of the relay's target) through the relay."""
        return target_url.replace(f":{self.target_port}", f":{self.port}")

    def freeze_all(self) -> None:
        for frozen in self.frozen:
            frozen.set()

    def cut(self) -> None:
        """Freeze every connection, and every new one until `heal()`."""
        self._cut = True
        self.freeze_all()

    def heal(self) -> None:
        """New connections relay again (those frozen stay frozen)."""
        self._cut = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frozen = asyncio.Event()
        self.frozen.append(frozen)
        if self._cut:
            await self._stopping.wait()  # accepted, never answered
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if frozen.is_set():
                    await self._stopping.wait()  # hold the connection open, pass nothing on
                    break
                sink.write(data)
                await sink.drain()
            sink.close()  # one side closed (or let go after a freeze): so is the other (a server that
            # closes after a client's goodbye, as PostgreSQL does, is waited for by its client)

        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                w.close()

    async def stop(self) -> None:
        """Stop listening, and close the frozen connections too."""
        assert self._server is not None
        self._stopping.set()
        self._server.close()
