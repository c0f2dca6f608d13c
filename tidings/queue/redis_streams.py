"""The distributed profile's dispatch queue: one Redis stream read by a consumer group.

    API processes ── publish ─▶ XADD tidings:dispatch {ids: "17,18,19,…"}   (pipelined)
                                           │
    worker A ◀── XREADGROUP GROUP workers A COUNT n BLOCK t ── each entry goes to one worker
    worker B ◀── XAUTOCLAIM … min-idle claim_idle_ms       ── entries a dead worker held
                                           │
    worker ──── ack ─▶ MULTI XACK + XDEL EXEC                ── the stream holds only open work

Entries carry *many* ids (up to `ids_per_entry`, comma-separated). Redis spends its time per
entry, not per byte, and so does the client parsing replies: measured on one machine with one
client, 64 ids per entry moved ~800k ids/s through publish+take+ack against ~75k ids/s with one
id per entry. 64 keeps the unit of sharing and of crash recovery small (a worker taking 256 ids
reads 4 entries) while getting almost all of the gain (256 per entry was only ~10% faster).

`take(max_items)` reads `max_items // ids_per_entry` entries, so it never exceeds `max_items`
when publishers use the same `ids_per_entry`. When an entry holds more ids than asked for, the
rest is kept in-process and handed out by the next `take`; the entry is acknowledged only once
all of its ids have been acknowledged.

Crash recovery: an entry delivered to a worker stays in the group's pending list until acked.
Every `claim_every_ms` each worker runs XAUTOCLAIM over that list and takes over entries idle
longer than `claim_idle_ms`, that is, entries a dead (or wedged) worker read and never acked.
A recovered id may already have been claimed in the database by the worker that died; the
database claim (a lease) decides, so an id handed out twice is still sent once. Acked entries
are deleted (XDEL) in the same transaction, so the stream does not grow: its length is the
work not yet done. Consumers that left nothing pending and have been silent for
`consumer_ttl_ms` are removed from the group so restarts do not accumulate names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from tidings.core.errors import TidingsError
from tidings.queue.base import Taken

__all__ = ["QueueError", "RedisStreamsDispatchQueue", "default_consumer_name"]

log = logging.getLogger(__name__)

IDS_FIELD = b"ids"


class QueueError(TidingsError):
    """Redis could not be reached or refused a queue or limiter command."""


@contextlib.contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """Map redis-py's exceptions to `QueueError` at the boundary."""
    try:
        yield
    except RedisError as exc:
        raise QueueError(f"{what}: {exc}") from exc


def default_consumer_name() -> str:
    """Unique per process, even when a container restarts with the same hostname and pid."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _entries_of(reply: Any) -> list[tuple[Any, Any]]:
    """The (id, fields) pairs of an XREADGROUP reply, whichever shape redis-py returned."""
    if not reply:
        return []
    if isinstance(reply, dict):
        streams = list(reply.values())
    else:
        streams = [item[1] for item in reply]
    entries: list[tuple[Any, Any]] = []
    for stream_entries in streams:
        # RESP3 legacy shape wraps the entry list in one more list.
        if stream_entries and isinstance(stream_entries[0], list):
            stream_entries = stream_entries[0]
        entries.extend(stream_entries or [])
    return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamsDispatchQueue:
    """`DispatchQueue` on a Redis stream and consumer group; safe to use from many processes."""

    def __init__(
        self,
        redis_url: str,
        *,
        stream: str = "tidings:dispatch",
        group: str = "workers",
        consumer: str | None = None,
        claim_idle_ms: int = 30_000,
        claim_every_ms: int | None = None,
        ids_per_entry: int = 64,
        consumer_ttl_ms: int = 3_600_000,
    ) -> None:
        if claim_idle_ms <= 0:
            raise ValueError("claim_idle_ms must be positive")
        if ids_per_entry < 1:
            raise ValueError("ids_per_entry must be at least 1")
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.claim_every = (claim_every_ms if claim_every_ms is not None else claim_idle_ms // 2) / 1000
        self.ids_per_entry = ids_per_entry
        self.consumer_ttl_ms = consumer_ttl_ms
        self.recovered = 0  # entries taken over after idling past claim_idle_ms
        self._redis: Redis = Redis.from_url(redis_url, socket_connect_timeout=5.0, socket_keepalive=True)
        self._group_ready = False
        self._closed = False
        self._joined = False  # this process has read as a consumer of the group
        self._next_claim = 0.0
        self._claim_cursor = "0-0"
        # Ids read from Redis but not yet handed out, and per entry the ids not yet acked.
        self._leftover: deque[tuple[str, list[int]]] = deque()
        self._held: dict[str, int] = {}

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        with redis_errors("creating the dispatch consumer group"):
            try:
                await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    async def publish(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        await self._ensure_group()
        size = self.ids_per_entry
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, len(ids), size):
            pipe.xadd(self.stream, {IDS_FIELD: ",".join(map(str, ids[start:start + size]))})
        with redis_errors("publishing to the dispatch stream"):
            await pipe.execute()

    async def take(self, max_items: int, timeout: float) -> Taken | None:
        if max_items <= 0:
            return None
        if not self._leftover:
            await self._ensure_group()
            want = max(1, max_items // self.ids_per_entry)
            entries = await self._recover(want)
            if not entries:
                entries = await self._read(want, timeout)
            await self._hold(entries)
        if not self._leftover:
            return None
        return self._serve(max_items)

    async def ack(self, taken: Taken) -> None:
        done: list[str] = []
        for token in taken.tokens:
            entry_id, _, count = token.partition("/")
            left = self._held.get(entry_id)
            if left is None:
                done.append(entry_id)
                continue
            left -= int(count or 0)
            if left > 0:
                self._held[entry_id] = left
            else:
                del self._held[entry_id]
                done.append(entry_id)
        if done:
            await self._ack_entries(done)

    async def backlog(self) -> int:
        """Entries (of up to `ids_per_entry` ids) not yet delivered plus those delivered and
        not yet acknowledged (pending), including a dead worker's."""
        await self._ensure_group()
        with redis_errors("reading the dispatch backlog"):
            try:
                groups = await self._redis.xinfo_groups(self.stream)
            except ResponseError as exc:
                if "no such key" not in str(exc).lower():
                    raise
                self._group_ready = False
                return 0
            for info in groups:
                if _text(info["name"]) == self.group:
                    lag = info.get("lag")
                    if lag is not None:
                        return int(lag) + int(info["pending"])
            # The lag is unknown after a deletion past the group's position; every entry left
            # in the stream is unacknowledged work, because acknowledged ones are deleted.
            return int(await self._redis.xlen(self.stream))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._joined and not self._held and not self._leftover:
                # Leave the group tidily; only with nothing pending, since deleting a consumer
                # drops its pending entries.
                pending = await self._redis.xpending_range(
                    self.stream, self.group, min="-", max="+", count=1, consumername=self.consumer
                )
                if not pending:
                    await self._redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except RedisError as exc:
            log.warning("could not leave the dispatch group cleanly: %s", exc)
        finally:
            self._leftover.clear()
            self._held.clear()
            await self._redis.aclose()

    # -- internals ---------------------------------------------------------------------------

    async def _read(self, count: int, timeout: float) -> list[tuple[Any, Any]]:
        block = max(1, int(timeout * 1000)) if timeout > 0 else None
        self._joined = True
        for attempt in (1, 2):
            with redis_errors("reading the dispatch stream"):
                try:
                    reply = await self._redis.xreadgroup(
                        self.group, self.consumer, {self.stream: ">"}, count=count, block=block
                    )
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc) or attempt == 2:
                        raise
                    # The stream or group vanished (Redis restarted without persistence, or
                    # was flushed): recreate; the sweeper republishes what was lost.
                    self._group_ready = False
                    await self._ensure_group()
                    continue
            return _entries_of(reply)
        return []

    async def _recover(self, count: int) -> list[tuple[Any, Any]]:
        """XAUTOCLAIM entries idle past `claim_idle_ms`, one page per call while a scan of the
        pending list is under way, then again after `claim_every`."""
        now = asyncio.get_running_loop().time()
        if self._claim_cursor == "0-0" and now < self._next_claim:
            return []
        self._joined = True
        with redis_errors("recovering idle dispatch entries"):
            try:
                reply = await self._redis.xautoclaim(
                    self.stream, self.group, self.consumer, self.claim_idle_ms,
                    start_id=self._claim_cursor, count=count,
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False
                return []
            self._claim_cursor = _text(reply[0])
            entries = [(eid, fields) for eid, fields in reply[1] if eid is not None]
            if self._claim_cursor == "0-0":
                self._next_claim = now + self.claim_every
                await self._prune_consumers()
        mine = [e for e in entries if _text(e[0]) not in self._held]
        if mine:
            self.recovered += len(mine)
            log.info("recovered %d dispatch entries idle over %d ms", len(mine), self.claim_idle_ms)
        return entries

    async def _prune_consumers(self) -> None:
        consumers = await self._redis.xinfo_consumers(self.stream, self.group)
        for info in consumers:
            name = _text(info["name"])
            # "idle" is since the consumer last tried to read: small for a live, blocked worker.
            silent = int(info.get("idle", 0))
            if name != self.consumer and int(info["pending"]) == 0 and silent >= self.consumer_ttl_ms:
                await self._redis.xgroup_delconsumer(self.stream, self.group, name)
                log.info("removed consumer %s, silent for %d ms", name, silent)

    async def _hold(self, entries: list[tuple[Any, Any]]) -> None:
        unreadable: list[str] = []
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            if entry_id in self._held:
                continue  # taken over by ourselves while still held here
            raw = fields.get(IDS_FIELD) if fields else None
            try:
                ids = [int(part) for part in raw.split(b",")] if raw else []
            except ValueError:
                ids = []
            if not ids:
                log.warning("dropping unreadable dispatch entry %s: %r", entry_id, fields)
                unreadable.append(entry_id)
                continue
            self._held[entry_id] = len(ids)
            self._leftover.append((entry_id, ids))
        if unreadable:
            await self._ack_entries(unreadable)

    def _serve(self, max_items: int) -> Taken:
        ids: list[int] = []
        tokens: list[str] = []
        while self._leftover and len(ids) < max_items:
            entry_id, rest = self._leftover[0]
            room = max_items - len(ids)
            if len(rest) <= room:
                self._leftover.popleft()
                part = rest
            else:
                part = rest[:room]
                self._leftover[0] = (entry_id, rest[room:])
            ids.extend(part)
            tokens.append(f"{entry_id}/{len(part)}")
        return Taken(ids, tokens)

    async def _ack_entries(self, entry_ids: list[str]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *entry_ids)
        pipe.xdel(self.stream, *entry_ids)
        with redis_errors("acknowledging dispatch entries"):
            await pipe.execute()
