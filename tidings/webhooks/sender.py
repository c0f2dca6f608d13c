"""The webhook sender: posts due outbox rows, signed, and records what happened.

Each round claims due rows under a lease (see `outbox`), posts them concurrently, each signed with
its project's current `webhook_secret` (or the row's own secret; a row naming a verification
application is signed with Sinch's application scheme, `tidings.verify.result_signing`), and
records the outcome:

- a 2xx answer: `delivered`;
- a 4xx other than 408 and 429: `rejected`, not retried (the receiver refused this row; Sinch
  does the same with its callbacks); `last_error` says why, and it is logged;
- anything else (a 5xx, 408, 429, 3xx), a network error or a timeout: the attempt is counted and
  the row is due again after an exponential backoff with jitter (`base_delay` doubling per
  failure of the row, at most `max_delay`); `last_error` says why;
- a row older than `max_age_seconds`, or one whose next try would be, is `expired` (and logged).

Politeness towards receivers. When a URL fails, it is backed off as a whole: its other pending
rows are pushed back to the same retry time (in the database, so every sender sees it), rows
queued for it meanwhile are pushed back as they come due, and once the retry time comes a single
row probes it: the one tried least often. The URL's delay doubles with its consecutive failures
(or is the `Retry-After` its 429 or 503 asked for, if longer); the row that failed waits its own
backoff, at least as long, and the next probe is another row: one row a receiver chokes on does
not hold up the rest. Success opens the URL again. Attempts that were already in flight when the
URL failed do not compound its backoff. Within a URL, rows tried less often, then older rows, go
first.

Sharing the slots. At most `concurrency` posts are in flight, at most `per_url_concurrency` per
URL (one, the probe, while it is failing). Each URL with due rows first gets its fair share of the
slots (`concurrency` ÷ the URLs in flight or due); what is left goes to any URL up to its cap,
save one slot in eight, kept free for a URL that comes due while slow receivers hold the rest.
So slow receivers slow down only themselves.

Delivery is at least once. A sender that dies mid-post leaves its rows claimed; another sender
takes them over when the lease (`lease_seconds`, longer than the request `timeout`) lapses, and
the receiver may then see a row twice. Receivers deduplicate on the body (batch id and recipient,
or the inbound id), as with Sinch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from tidings.observability.metrics import WEBHOOKS
from tidings.store.db import Database
from tidings.webhooks import outbox, signing

# A row whose `secret` starts with this names a verification application to sign as
# (`tidings.verify.result_signing`).
APP_SIGNED = "verification-app:"

__all__ = ["WebhookSender"]

log = logging.getLogger(__name__)

USER_AGENT = "Tidings-Webhooks/1"
# How much of a failing receiver's answer is kept in `last_error`.
_ERROR_BODY_BYTES = 200
# A receiver's answer is read up to this size (so the connection can be reused), then dropped.
_MAX_RESPONSE_BYTES = 64 * 1024
# Exponents past this are capped by max_delay anyway; avoids float overflow.
_MAX_EXPONENT = 62


@dataclass(slots=True)
class _UrlHealth:
    """What this sender knows about a failing URL."""

    failures: int  # consecutive failures, counting only attempts started after the previous one
    failed_ms: int  # when the last counted failure happened
    retry_ms: int  # nothing is sent to the URL before this; then one probe at a time


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one post came to."""

    error: str | None = None  # None: delivered
    refused: bool = False  # the receiver refused the row for good: not retried
    retry_after_ms: int = 0  # the receiver asked for at least this long a pause


_DELIVERED = _Outcome()


def refuses_for_good(status: int) -> bool:
    """Sinch's rule for its callbacks: a 4xx is not retried, but 429 (too many requests) is, and
    so is 408 (the receiver timed out reading, as a timeout of ours would be)."""
    return 400 <= status < 500 and status not in (408, 429)


def retry_after_ms(response: httpx.Response, now_ms: int) -> int:
    """The pause a 429 or 503 asks for in `Retry-After` (seconds or an HTTP date), else 0."""
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in (429, 503) or not value:
        return 0
    if value.isdigit():
        return int(value) * 1000
    try:
        return max(0, int(parsedate_to_datetime(value).timestamp() * 1000) - now_ms)
    except (TypeError, ValueError, OverflowError):
        return 0


def allot(
    candidates: Sequence[outbox.Candidate], free: int, concurrency: int,
    in_flight: Counter[str], cap: Callable[[str], int],
) -> list[int]:
    """Of `candidates` (oldest due first), the ids to post now in `free` slots: each URL first up
    to its fair share of `concurrency` (split between the URLs in flight or due), then up to its
    `cap` while more than one slot in eight stays free."""
    urls = set(in_flight) | {c.url for c in candidates}
    share = max(1, concurrency // max(1, len(urls)))
    reserve = concurrency // 8
    take: list[int] = []
    taken: Counter[str] = Counter()
    rest: list[outbox.Candidate] = []
    for c in candidates:
        if len(take) < free and in_flight[c.url] + taken[c.url] < min(cap(c.url), share):
            take.append(c.id)
            taken[c.url] += 1
        else:
            rest.append(c)
    for c in rest:
        if len(take) < free - reserve and in_flight[c.url] + taken[c.url] < cap(c.url):
            take.append(c.id)
            taken[c.url] += 1
    return take


@dataclass(slots=True)
class _Round:
    rows: list[outbox.Claimed] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    expired: int = 0
    deferred: int = 0


class WebhookSender:
    """Delivers the webhook outbox. Counters: `posted` (delivered), `failed` (failed attempts),
    `rejected` (rows the receiver refused), `expired` (rows given up)."""

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], int],
        concurrency: int = 64,
        per_url_concurrency: int = 16,
        max_age_seconds: float = 72 * 3600,
        base_delay: float = 1.0,
        max_delay: float = 3600.0,
        jitter: float = 0.2,
        timeout: float = 10.0,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        window: int = 500,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or per_url_concurrency < 1 or window < 1:
            raise ValueError("concurrency, per_url_concurrency and window must be at least 1")
        if not 0 < base_delay <= max_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")
        if lease_seconds <= timeout:
            raise ValueError("lease_seconds must exceed timeout, or a slow post could be retaken")
        self._db = db
        self._http = http
        self._clock = clock
        self.concurrency = concurrency
        self.per_url_concurrency = per_url_concurrency
        self.poll_interval = poll_interval
        self._max_age_ms = int(max_age_seconds * 1000)
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._jitter = jitter
        self._timeout = timeout
        self._lease_ms = int(lease_seconds * 1000)
        self._window = window
        self._rng = rng or random.Random()
        self._health: dict[str, _UrlHealth] = {}
        self._in_flight: Counter[str] = Counter()
        self._wakeup = asyncio.Event()
        self.posted = 0
        self.failed = 0
        self.rejected = 0
        self.expired = 0

    def wake(self) -> None:
        """Rows were just committed: claim them now rather than at the next poll."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    async def run_once(self) -> int:
        """One round: claim what is due (up to the free concurrency), post it, record the
        outcomes. Returns how many rows were attempted or expired."""
        work = await self._claim(self.concurrency - self.in_flight)
        if work.rows:
            await asyncio.gather(*(self._deliver(row, row.secret or work.secrets.get(row.project_id))
                                   for row in work.rows))
        return len(work.rows) + work.expired

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then let the posts in flight finish.

        Rows are claimed as soon as a slot is free, so a slow receiver never holds up the others.
        A round that found work is followed at once by another; otherwise the sender sleeps
        `poll_interval`, or until a post finishes, `wake` is called or `stop` is set.
        """
        tasks: set[asyncio.Task[None]] = set()
        stopped = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self._wakeup.wait())
        try:
            while not stop.is_set():
                found = 0
                free = self.concurrency - self.in_flight
                if free > 0:
                    try:
                        work = await self._claim(free)
                    except Exception:  # noqa: BLE001 - the database may come back; retry next round
                        log.exception("claiming webhooks failed")
                        work = _Round()
                    for row in work.rows:
                        task = asyncio.create_task(self._deliver(row, row.secret or work.secrets.get(row.project_id)))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    found = len(work.rows) + work.expired + work.deferred
                if found and self.in_flight < self.concurrency:
                    continue
                await asyncio.wait({stopped, woken, *tasks}, timeout=self.poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                if woken.done():  # cleared before the claim: a wake during it is not lost
                    self._wakeup.clear()
                    woken = asyncio.ensure_future(self._wakeup.wait())
        finally:
            stopped.cancel()
            woken.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def backoff_ms(self, failures: int) -> int:
        """The delay after the `failures`-th consecutive failure: base_delay doubling, capped at
        max_delay, minus up to `jitter` of it at random (so retries of many rows spread out)."""
        exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
        delay = min(self._max_delay, self._base_delay * 2.0**exponent)
        return max(1, int(delay * (1 - self._jitter * self._rng.random()) * 1000))

    # -- claiming ---------------------------------------------------------------------------

    async def _claim(self, free: int) -> _Round:
        work = _Round()
        if free <= 0:
            return work
        now = self._clock()
        stale_before = now - self._lease_ms
        self._forget_recovered(now)
        # URLs holding their cap, or a fair share with one more URL about, are left out of the
        # query: the window then shows the rows of the others.
        share = max(1, self.concurrency // (len(self._in_flight) + 1))
        saturated = [url for url, n in self._in_flight.items() if n >= min(self._cap(url), share)]
        limit = min(self._window, max(4 * free, 64))
        too_old: list[int] = []
        deferred: dict[int, list[int]] = {}
        ready: list[outbox.Candidate] = []
        async with self._db.write() as conn:
            candidates = await outbox.due_candidates(conn, now, stale_before, limit, saturated)
            for c in candidates:
                health = self._health.get(c.url)
                if now - c.created_ms > self._max_age_ms:
                    too_old.append(c.id)
                elif health is not None and health.retry_ms > now:
                    deferred.setdefault(health.retry_ms, []).append(c.id)
                else:
                    ready.append(c)
            take = allot(ready, free, self.concurrency, self._in_flight, self._cap)
            wanted = take + too_old + [i for ids in deferred.values() for i in ids]
            locked = await outbox.lock(conn, wanted, now, stale_before)
            work.rows = await outbox.claim(conn, [i for i in take if i in locked], now, stale_before)
            expired = await outbox.expire(conn, [i for i in too_old if i in locked], now, stale_before)
            for due, ids in deferred.items():
                work.deferred += await outbox.defer(conn, [i for i in ids if i in locked], due, now,
                                                    stale_before)
            work.secrets = await outbox.project_secrets(conn, {row.project_id for row in work.rows})
        for row in work.rows:
            self._in_flight[row.url] += 1
        for gone in expired:
            self._log_expired(gone.id, gone.url, gone.kind, gone.attempts, gone.created_ms, now,
                              gone.last_error)
        work.expired = len(expired)
        self.expired += work.expired
        WEBHOOKS.labels("expired").inc(work.expired)
        return work

    def _cap(self, url: str) -> int:
        """How many rows of `url` may be in flight: one (a probe) while it is failing."""
        return 1 if url in self._health else self.per_url_concurrency

    def _forget_recovered(self, now: int) -> None:
        """Drop what is known of URLs nothing was sent to for a long time after their retry
        time: they have no pending rows left, so the memory would only grow."""
        horizon = now - int(self._max_delay * 1000)
        for url in [u for u, h in self._health.items() if h.retry_ms < horizon]:
            if not self._in_flight[url]:
                del self._health[url]

    # -- posting ----------------------------------------------------------------------------

    async def _deliver(self, row: outbox.Claimed, secret: str | None) -> None:
        try:
            if secret is None:
                outcome = _Outcome(f"project {row.project_id} not found")
            else:
                outcome = await self._post(row, secret)
            if outcome.error is None:
                await self._record_delivered(row)
            elif outcome.refused:
                await self._record_refusal(row, outcome.error)
            else:
                await self._record_failure(row, outcome)
        except Exception:  # noqa: BLE001 - the lease lapses and another round retries the row
            log.exception("recording a webhook outcome failed", extra={"outbox_id": row.id})
        finally:
            self._in_flight[row.url] -= 1
            if self._in_flight[row.url] <= 0:
                del self._in_flight[row.url]

    async def _post(self, row: outbox.Claimed, secret: str) -> _Outcome:
        """Post the row; what came of it."""
        if secret.startswith(APP_SIGNED):
            # A verification application's callback: Sinch's application signature instead.
            from tidings.verify import result_signing

            app_headers = await result_signing.headers_for(self._db, row.project_id, secret, row.body,
                                                           row.url, self._clock())
            if app_headers is None:
                return _Outcome("verification application not found")
            headers = app_headers
        else:
            headers = signing.sign(secret, row.body, self._clock())
            headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream("POST", row.url, content=row.body, headers=headers,
                                             timeout=self._timeout) as response:
                    answer = await _read_capped(response)
        except TimeoutError:
            return _Outcome(f"timeout after {self._timeout:g}s")
        except httpx.TimeoutException as exc:
            return _Outcome(f"timeout: {type(exc).__name__}")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return _Outcome(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - retried with backoff like any failure, not lost
            log.warning("posting webhook %d failed unexpectedly", row.id, exc_info=True)
            return _Outcome(f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return _DELIVERED
        snippet = answer[:_ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        return _Outcome(f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""),
                        refused=refuses_for_good(response.status_code),
                        retry_after_ms=min(retry_after_ms(response, self._clock()),
                                           int(self._max_delay * 1000)))

    # -- outcomes ---------------------------------------------------------------------------

    async def _record_delivered(self, row: outbox.Claimed) -> None:
        async with self._db.write() as conn:
            await outbox.mark_delivered(conn, row.id, self._clock())
        self.posted += 1
        WEBHOOKS.labels("posted").inc()
        self._health.pop(row.url, None)

    async def _record_refusal(self, row: outbox.Claimed, error: str) -> None:
        """Refused for good: not retried. The receiver answered, so its URL is up."""
        async with self._db.write() as conn:
            recorded = await outbox.mark_rejected(conn, row, error)
        self._health.pop(row.url, None)
        if recorded:
            self.rejected += 1
            WEBHOOKS.labels("rejected").inc()
            log.warning("webhook %d to %s rejected by the receiver: %s", row.id, row.url, error,
                        extra={"outbox_id": row.id, "url": row.url, "kind": row.kind,
                               "attempts": row.attempts + 1, "last_error": error})

    async def _record_failure(self, row: outbox.Claimed, outcome: _Outcome) -> None:
        error = outcome.error or "failed"
        self.failed += 1
        WEBHOOKS.labels("failed").inc()
        now = self._clock()
        attempts = row.attempts + 1
        health = self._health.get(row.url)
        counted = health is None or row.claimed_ms > health.failed_ms
        if health is None:
            health = self._health[row.url] = _UrlHealth(failures=1, failed_ms=now, retry_ms=0)
        elif counted:
            health.failures += 1
            health.failed_ms = now
        if counted:
            health.retry_ms = now + max(self.backoff_ms(health.failures), outcome.retry_after_ms)
        # The row waits its own backoff, and at least until the URL's retry time. The URL's next
        # probe is then the row tried least often, so a row the receiver fails on does not hold
        # up the others.
        due = max(now + self.backoff_ms(attempts), health.retry_ms)
        gives_up = due - row.created_ms > self._max_age_ms
        async with self._db.write() as conn:
            if gives_up:
                recorded = await outbox.mark_expired(conn, row, error)
            else:
                recorded = await outbox.mark_failed(conn, row, due, error)
            if counted:
                await outbox.defer_url(conn, row.url, health.retry_ms, now - self._lease_ms)
        log.info("webhook attempt failed", extra={
            "outbox_id": row.id, "url": row.url, "attempts": attempts, "error": error,
            "retry_in_ms": None if gives_up else due - now,
        })
        if gives_up and recorded:
            self.expired += 1
            WEBHOOKS.labels("expired").inc()
            self._log_expired(row.id, row.url, row.kind, attempts, row.created_ms, now, error)

    def _log_expired(self, row_id: int, url: str, kind: str, attempts: int, created_ms: int,
                     now: int, last_error: str | None) -> None:
        log.warning(
            "webhook %d to %s expired undelivered after %d attempts", row_id, url, attempts,
            extra={"outbox_id": row_id, "url": url, "kind": kind, "attempts": attempts,
                   "age_seconds": (now - created_ms) / 1000, "last_error": last_error},
        )


async def _read_capped(response: httpx.Response) -> bytes:
    """Up to `_MAX_RESPONSE_BYTES` of the answer; a longer one is cut (and its connection closed)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)
