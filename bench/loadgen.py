"""A lean HTTP/1.1 load generator: N keep-alive connections, one request in flight on each.

Written on raw asyncio streams because a general-purpose client (httpx, aiohttp) spends more CPU
per request than the server under test does, and on a 2-core machine the load generator shares
the CPUs with the server. It only understands what the benchmark needs: Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    bodies: list[bytes] = field(default_factory=list)
    first_error: tuple[int, bytes] | None = None  # the first answer that was not a 201, to say why

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def run_load(host: str, port: int, requests: int, concurrency: int,
                   make_request: Callable[[int], bytes], keep_bodies: bool = False) -> LoadResult:
    result = LoadResult()
    counter = iter(range(requests))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in counter:
                raw = make_request(i)
                t0 = time.perf_counter()
                writer.write(raw)
                status, body = await _read_response(reader)
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != 201 and result.first_error is None:
                    result.first_error = (status, body[:300])
                if keep_bodies:
                    result.bodies.append(body)
        finally:
            writer.close()

    result.started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.finished = time.perf_counter()
    return result


def post_json(host: str, port: int, path: str, body: bytes, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
