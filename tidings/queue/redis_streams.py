"""The distributed profile's dispatch queue: two Redis streams read by one consumer group.

    API processes ── publish ─▶ XADD tidings:dispatch {ids: "17,18,19,…"}   (one pipeline a loop turn)
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

`take(max_items)` reads as many entries as the ids per entry seen in recent reads call for:
an API process publishes each request's ids as they come, so single-recipient sends make entries
of one id, batches full ones. (Reading `max_items // ids_per_entry` entries, as it once did, took
four ids per read of a stream of single sends: the one worker of a benchmark claimed 2.5 ids at a
time and delivered ~600 single sends/s.) At most `MAX_ENTRIES_PER_READ` entries are read at once,
which bounds what one read can hold when full entries follow single ones. When the entries hold
more ids than asked for, the rest is kept in-process and handed out by the next `take`; an entry
is acknowledged only once all of its ids have been acknowledged.

Priority: ids published with `priority=True` (verification codes) go to a second stream,
`{stream}:priority`, with its own group of the same name. A worker blocks on both streams at
once (one XREADGROUP), and every `take` first reads the priority stream without blocking, also
when bulk ids read earlier are still held in-process; priority ids are always handed out before
bulk ones. Recovery (XAUTOCLAIM) and the backlog cover both streams.

Crash recovery: an entry delivered to a worker stays in the group's pending list until acked.
Every `claim_every_ms` each worker runs XAUTOCLAIM over that list and takes over entries idle
longer than `claim_idle_ms`, that is, entries a dead (or wedged) worker read and never acked.
A recovered id may already have been claimed in the database by the worker that died; the
database claim (a lease) decides, so an id handed out twice is still sent once. An entry this
worker itself takes over is one it handed out and never acked for `claim_idle_ms` (the claim of
that take failed, or it was lost): its ids are handed out again, and acks of the earlier take no
longer count for it (tokens carry the entry's generation). Acked entries
are deleted (XDEL) in the same transaction, so the stream does not grow: its length is the
work not yet done. Consumers that left nothing pending and have been silent for
`consumer_ttl_ms` are removed from the group so restarts do not accumulate names.

Wake-ups (`announce`/`listen`) go over pub/sub channels `{stream}:wake:{topic}` on the same
client (`tidings.queue.redis_wakes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from tidings.core.errors import TidingsError
from tidings.queue.base import Taken
from tidings.queue.redis_wakes import RedisWakes

__all__ = ["QueueError", "RedisStreamsDispatchQueue", "default_consumer_name"]

log = logging.getLogger(__name__)

IDS_FIELD = b"ids"
MAX_ENTRIES_PER_READ = 64
# Weight of the newest read in the running mean of ids per entry.
_MEAN_WEIGHT = 0.5
PRIORITY_SUFFIX = ":priority"
SOCKET_TIMEOUT_SECONDS = 5.0
"""A command unanswered this long fails (`QueueError`) and its connection is dropped, so the next
one opens a new connection: a connection cut without a reset (a host or the network gone) holds
a worker's `take` no longer. Set here rather than left to redis-py's default (the same 5 s in
8.x). A blocking read waits at most half of it on the server (`take`'s timeout is capped)."""
PRIORITY_MARK = "p:"  # held entries and tokens of the priority stream carry this prefix
PUBLISH_RETRY_SECONDS = 1.0
"""After a publish fails, publishes fail at once (`QueueError`) for this long, and while the next
attempt is under way: with Redis cut off without a reset each attempt waits out the socket
timeout, and the API, which publishes after it commits, would hold every send that long. What
fails to publish is left to the sweeper (`tidings.actions.batches._publish`)."""


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


def _entries_by_stream(reply: Any) -> dict[str, list[tuple[Any, Any]]]:
    """The (id, fields) pairs of an XREADGROUP reply per stream name, whichever shape redis-py
    returned."""
    if not reply:
        return {}
    pairs = list(reply.items()) if isinstance(reply, dict) else [(item[0], item[1]) for item in reply]
    by_stream: dict[str, list[tuple[Any, Any]]] = {}
    for name, stream_entries in pairs:
        # RESP3 legacy shape wraps the entry list in one more list.
        if stream_entries and isinstance(stream_entries[0], list):
            stream_entries = stream_entries[0]
        by_stream.setdefault(_text(name), []).extend(stream_entries or [])
    return by_stream


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _Outgoing:
    """Ids published during this loop iteration, sent together on its next turn: an API process
    answering many single sends at once made a pipeline (a Redis round trip) and an entry of one
    id for each; now they share one round trip and full entries, which the worker then reads in
    fewer entries too."""

    ids: list[int] = field(default_factory=list)
    sent: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None


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
        socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    ) -> None:
        if claim_idle_ms <= 0:
            raise ValueError("claim_idle_ms must be positive")
        if ids_per_entry < 1:
            raise ValueError("ids_per_entry must be at least 1")
        self.stream = stream
        self.priority_stream = stream + PRIORITY_SUFFIX
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.claim_every = (claim_every_ms if claim_every_ms is not None else claim_idle_ms // 2) / 1000
        self.ids_per_entry = ids_per_entry
        self.consumer_ttl_ms = consumer_ttl_ms
        self.recovered = 0  # entries taken over after idling past claim_idle_ms
        self._redis: Redis = Redis.from_url(redis_url, socket_connect_timeout=5.0, socket_keepalive=True,
                                            socket_timeout=socket_timeout)
        self._max_block_ms = max(1, int(socket_timeout * 500))  # a blocking read ends well inside it
        self.wakes = RedisWakes(self._redis, stream + ":wake:")
        self._group_ready = False
        self._closed = False
        self._joined = False  # this process has read as a consumer of the group
        self._next_claim = {self.priority_stream: 0.0, self.stream: 0.0}
        self._claim_cursor = {self.priority_stream: "0-0", self.stream: "0-0"}
        # Ids read from Redis but not yet handed out (priority, bulk), and per held entry (keyed
        # with PRIORITY_MARK for the priority stream) its generation and the ids not yet acked.
        self._priority_leftover: deque[tuple[str, list[int]]] = deque()
        self._leftover: deque[tuple[str, list[int]]] = deque()
        self._held: dict[str, tuple[int, int]] = {}
        self._generation = 0
        self._ids_per_entry_seen = float(ids_per_entry)  # running mean over recent reads
        self._outgoing = {False: _Outgoing(), True: _Outgoing()}  # by priority
        self._socket_timeout = socket_timeout
        self._publish_failed = False  # the last publish attempt failed
        self._publish_down_until = 0.0  # loop time: publishes fail at once before it

    def _key(self, stream: str, entry_id: str) -> str:
        return PRIORITY_MARK + entry_id if stream == self.priority_stream else entry_id

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        with redis_errors("creating the dispatch consumer group"):
            for stream in (self.priority_stream, self.stream):
                try:
                    await self._redis.xgroup_create(stream, self.group, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
        self._group_ready = True

    async def publish(self, ids: Sequence[int], priority: bool = False) -> None:
        """Returns once the ids are in the stream. Publishes of one loop iteration share one
        pipeline and fill its entries together (see `_Outgoing`)."""
        if not ids:
            return
        if asyncio.get_running_loop().time() < self._publish_down_until:
            raise QueueError("publishing to the dispatch stream: it failed moments ago; not tried again yet")
        outgoing = self._outgoing[priority]
        if outgoing.sent is None:
            outgoing.sent = asyncio.get_running_loop().create_future()
            outgoing.task = asyncio.get_running_loop().create_task(self._send_outgoing(priority))
        sent = outgoing.sent
        outgoing.ids.extend(ids)
        await asyncio.shield(sent)

    async def _send_outgoing(self, priority: bool) -> None:
        outgoing = self._outgoing[priority]
        await asyncio.sleep(0)  # the other publishes of this iteration join in
        ids, sent = outgoing.ids, outgoing.sent
        outgoing.ids, outgoing.sent, outgoing.task = [], None, None
        assert sent is not None
        loop = asyncio.get_running_loop()
        if self._publish_failed:  # this attempt finds out whether Redis is back: the others wait for it
            self._publish_down_until = loop.time() + self._socket_timeout + PUBLISH_RETRY_SECONDS
        try:
            await self._ensure_group()
            size = self.ids_per_entry
            stream = self.priority_stream if priority else self.stream
            pipe = self._redis.pipeline(transaction=False)
            for start in range(0, len(ids), size):
                pipe.xadd(stream, {IDS_FIELD: ",".join(map(str, ids[start:start + size]))})
            with redis_errors("publishing to the dispatch stream"):
                await pipe.execute()
        except asyncio.CancelledError:
            sent.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every publisher of this round learns it failed
            self._publish_failed = True
            self._publish_down_until = loop.time() + PUBLISH_RETRY_SECONDS
            sent.set_exception(exc)
            sent.exception()  # marked as seen: a publisher cancelled meanwhile no longer waits for it
        else:
            self._publish_failed = False
            self._publish_down_until = 0.0
            sent.set_result(None)

    async def take(self, max_items: int, timeout: float) -> Taken | None:
        if max_items <= 0:
            return None
        await self._ensure_group()
        want = max(1, min(MAX_ENTRIES_PER_READ, max_items, int(max_items / self._ids_per_entry_seen)))
        if self._leftover or self._priority_leftover:
            # Bulk ids are still held here: look for priority ones first, without blocking.
            if not self._priority_leftover:
                await self._hold(await self._read((self.priority_stream,), want, 0))
        else:
            entries = await self._recover(want)
            if not entries:
                entries = await self._read((self.priority_stream, self.stream), want, timeout)
            await self._hold(entries)
        if not self._leftover and not self._priority_leftover:
            return None
        return self._serve(max_items)

    async def ack(self, taken: Taken) -> None:
        done: list[str] = []
        for token in taken.tokens:
            key, _, rest = token.partition("/")
            count, _, generation = rest.partition("/")
            held = self._held.get(key)
            if held is None:
                done.append(key)
                continue
            if generation and int(generation) != held[0]:
                continue  # a take from before the entry was handed out again: the new one acks it
            left = held[1] - int(count or 0)
            if left > 0:
                self._held[key] = (held[0], left)
            else:
                del self._held[key]
                done.append(key)
        if done:
            await self._ack_entries(done)

    def priority_pending(self) -> bool:
        """Priority ids read from Redis and held here; ids published meanwhile by another process
        are seen at the next `take`, which reads the priority stream first."""
        return bool(self._priority_leftover)

    async def backlog(self) -> int:
        """Entries (of up to `ids_per_entry` ids) not yet delivered plus those delivered and
        not yet acknowledged (pending), including a dead worker's, in both streams."""
        await self._ensure_group()
        return await self._stream_backlog(self.priority_stream) + await self._stream_backlog(self.stream)

    async def _stream_backlog(self, stream: str) -> int:
        with redis_errors("reading the dispatch backlog"):
            try:
                groups = await self._redis.xinfo_groups(stream)
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
            return int(await self._redis.xlen(stream))

    async def open_since_ms(self) -> int | None:
        """The time in the id of the oldest entry of either stream (Redis's clock): acknowledged
        entries are deleted, so every entry left is open work, read or not."""
        oldest: int | None = None
        with redis_errors("reading the dispatch stream's oldest entry"):
            for stream in (self.priority_stream, self.stream):
                first = await self._redis.xrange(stream, "-", "+", count=1)
                if first and first[0][0] is not None:
                    ms = int(_text(first[0][0]).partition("-")[0])
                    oldest = ms if oldest is None else min(oldest, ms)
        return oldest

    def announce(self, topic: str) -> None:
        self.wakes.announce(topic)

    async def listen(self, handlers: Mapping[str, Callable[[], None]]) -> None:
        await self.wakes.listen(handlers)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.wakes.aclose()
        for outgoing in self._outgoing.values():  # publishes of the last turn still go out
            if outgoing.task is not None:
                await asyncio.gather(outgoing.task, return_exceptions=True)
        try:
            if self._joined and not self._held and not self._leftover and not self._priority_leftover:
                # Leave the groups tidily; only with nothing pending, since deleting a consumer
                # drops its pending entries.
                for stream in (self.priority_stream, self.stream):
                    pending = await self._redis.xpending_range(
                        stream, self.group, min="-", max="+", count=1, consumername=self.consumer
                    )
                    if not pending:
                        await self._redis.xgroup_delconsumer(stream, self.group, self.consumer)
        except RedisError as exc:
            log.warning("could not leave the dispatch group cleanly: %s", exc)
        finally:
            self._priority_leftover.clear()
            self._leftover.clear()
            self._held.clear()
            await self._redis.aclose()

    # -- internals ---------------------------------------------------------------------------

    async def _read(self, streams: Sequence[str], count: int, timeout: float) -> list[tuple[str, Any, Any]]:
        """(stream, id, fields) of new entries, priority stream first."""
        block = min(max(1, int(timeout * 1000)), self._max_block_ms) if timeout > 0 else None
        self._joined = True
        for attempt in (1, 2):
            with redis_errors("reading the dispatch stream"):
                try:
                    reply = await self._redis.xreadgroup(
                        self.group, self.consumer, {s: ">" for s in streams}, count=count, block=block
                    )
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc) or attempt == 2:
                        raise
                    # The stream or group vanished (Redis restarted without persistence, or
                    # was flushed): recreate; the sweeper republishes what was lost.
                    self._group_ready = False
                    await self._ensure_group()
                    continue
            by_stream = _entries_by_stream(reply)
            return [(s, eid, fields) for s in streams for eid, fields in by_stream.get(s, [])]
        return []

    async def _recover(self, count: int) -> list[tuple[str, Any, Any]]:
        """XAUTOCLAIM entries idle past `claim_idle_ms` from both streams (priority first), one
        page per call while a scan of a pending list is under way, then again after
        `claim_every`."""
        entries: list[tuple[str, Any, Any]] = []
        for stream in (self.priority_stream, self.stream):
            entries.extend((stream, eid, fields) for eid, fields in await self._recover_from(stream, count))
        theirs = [e for e in entries if self._key(e[0], _text(e[1])) not in self._held]
        if theirs:
            self.recovered += len(theirs)
            log.info("recovered %d dispatch entries idle over %d ms", len(theirs), self.claim_idle_ms)
        if len(theirs) < len(entries):
            log.warning("handing out again %d dispatch entries taken here and not acked for %d ms",
                        len(entries) - len(theirs), self.claim_idle_ms)
        return entries

    async def _recover_from(self, stream: str, count: int) -> list[tuple[Any, Any]]:
        now = asyncio.get_running_loop().time()
        if self._claim_cursor[stream] == "0-0" and now < self._next_claim[stream]:
            return []
        self._joined = True
        with redis_errors("recovering idle dispatch entries"):
            try:
                reply = await self._redis.xautoclaim(
                    stream, self.group, self.consumer, self.claim_idle_ms,
                    start_id=self._claim_cursor[stream], count=count,
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False
                return []
            self._claim_cursor[stream] = _text(reply[0])
            entries = [(eid, fields) for eid, fields in reply[1] if eid is not None]
            if self._claim_cursor[stream] == "0-0":
                self._next_claim[stream] = now + self.claim_every
                await self._prune_consumers(stream)
        return entries

    async def _prune_consumers(self, stream: str) -> None:
        consumers = await self._redis.xinfo_consumers(stream, self.group)
        for info in consumers:
            name = _text(info["name"])
            # "idle" is since the consumer last tried to read: small for a live, blocked worker.
            silent = int(info.get("idle", 0))
            if name != self.consumer and int(info["pending"]) == 0 and silent >= self.consumer_ttl_ms:
                await self._redis.xgroup_delconsumer(stream, self.group, name)
                log.info("removed consumer %s from %s, silent for %d ms", name, stream, silent)

    async def _hold(self, entries: list[tuple[str, Any, Any]]) -> None:
        unreadable: list[str] = []
        read_ids = 0
        for stream, raw_id, fields in entries:
            entry_id = self._key(stream, _text(raw_id))
            if entry_id in self._held:
                # Taken over by ourselves: held here unacked past claim_idle_ms (a take whose claim
                # failed is never acked). Handed out again, whole, under a new generation.
                self._drop_leftover(entry_id)
            raw = fields.get(IDS_FIELD) if fields else None
            try:
                ids = [int(part) for part in raw.split(b",")] if raw else []
            except ValueError:
                ids = []
            if not ids:
                log.warning("dropping unreadable dispatch entry %s: %r", entry_id, fields)
                unreadable.append(entry_id)
                continue
            self._generation += 1
            self._held[entry_id] = (self._generation, len(ids))
            read_ids += len(ids)
            line = self._priority_leftover if stream == self.priority_stream else self._leftover
            line.append((entry_id, ids))
        if read_ids:
            mean = read_ids / (len(entries) - len(unreadable))
            self._ids_per_entry_seen += _MEAN_WEIGHT * (mean - self._ids_per_entry_seen)
        if unreadable:
            await self._ack_entries(unreadable)

    def _serve(self, max_items: int) -> Taken:
        ids: list[int] = []
        tokens: list[str] = []
        for line in (self._priority_leftover, self._leftover):
            while line and len(ids) < max_items:
                entry_id, rest = line[0]
                room = max_items - len(ids)
                if len(rest) <= room:
                    line.popleft()
                    part = rest
                else:
                    part = rest[:room]
                    line[0] = (entry_id, rest[room:])
                ids.extend(part)
                tokens.append(f"{entry_id}/{len(part)}/{self._held[entry_id][0]}")
        return Taken(ids, tokens)

    def _drop_leftover(self, entry_id: str) -> None:
        """Forget the ids of a held entry not handed out yet (it is about to be held again)."""
        line = self._priority_leftover if entry_id.startswith(PRIORITY_MARK) else self._leftover
        if any(key == entry_id for key, _ in line):
            kept = [(key, ids) for key, ids in line if key != entry_id]
            line.clear()
            line.extend(kept)

    async def _ack_entries(self, keys: list[str]) -> None:
        """Acknowledge and delete held entries (keys as in `_held`), in one transaction."""
        bulk = [k for k in keys if not k.startswith(PRIORITY_MARK)]
        priority = [k[len(PRIORITY_MARK):] for k in keys if k.startswith(PRIORITY_MARK)]
        pipe = self._redis.pipeline(transaction=True)
        for stream, entry_ids in ((self.stream, bulk), (self.priority_stream, priority)):
            if entry_ids:
                pipe.xack(stream, self.group, *entry_ids)
                pipe.xdel(stream, *entry_ids)
        with redis_errors("acknowledging dispatch entries"):
            await pipe.execute()
