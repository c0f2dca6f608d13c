"""The sender: signed posts, retries with backoff, expiry, leases, and politeness per receiver."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from sinch import SinchClient
from sinch.domains.sms.models.v1.response import BatchDeliveryReport, RecipientDeliveryReport
from sinch.domains.sms.models.v1.shared.mo_text_message import MOTextMessage
from sqlalchemy import select

from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.store.db import Database
from tidings.store.schema import webhook_outbox
from tidings.webhooks import outbox, signing, sms_events
from tidings.webhooks.sender import WebhookSender
from tidings.webhooks.testing import ManualClock, WebhookReceiver

HOUR = 3600.0
LEASE = 60.0

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def mock_client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def enqueue(db: Database, project_id: str, url: str, bodies: list[bytes], now_ms: int,
                  kind: str = sms_events.RECIPIENT_DELIVERY_REPORT) -> None:
    async with db.write() as conn:
        await outbox.enqueue(conn, [outbox.webhook_row(project_id, url, kind, b, now_ms) for b in bodies])


async def rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(webhook_outbox).order_by(webhook_outbox.c.id))).all())


def report(i: int) -> bytes:
    return sms_events.encode(sms_events.recipient_delivery_report(
        batch_id=f"B{i:04d}", recipient=f"+4670{i:07d}", status="Delivered", code=0,
        at_ms=1_714_564_800_000 + i))


# -- signed delivery over a real socket -------------------------------------------------------


async def test_each_event_kind_reaches_a_real_receiver_signed_with_its_projects_secret(
    any_db: Database, project: ProjectCredentials, live_receiver: WebhookReceiver,
    clock: ManualClock, http: httpx.AsyncClient,
) -> None:
    other = await do_create_project(any_db, "other", clock())
    events = {
        sms_events.BATCH_DELIVERY_REPORT: sms_events.batch_delivery_report(
            batch_id="B1", report_type="full", total_message_count=2, client_reference="c1",
            statuses=[("Delivered", 0, 1, ["+46701"]), ("Failed", 404, 1, ["+46702"])]),
        sms_events.RECIPIENT_DELIVERY_REPORT: sms_events.recipient_delivery_report(
            batch_id="B1", recipient="+46701", status="Delivered", code=0, at_ms=clock()),
        sms_events.MO_TEXT: sms_events.mo_text(
            id="MO1", sender="+46701", to="12345", body="Svar: ja", received_at_ms=clock()),
    }
    for kind, event in events.items():
        await enqueue(any_db, project.project_id, live_receiver.url, [sms_events.encode(event)],
                      clock(), kind)
    other_body = sms_events.encode(sms_events.mo_text(
        id="MO2", sender="+46702", to="12345", body="other project", received_at_ms=clock()))
    await enqueue(any_db, other.project_id, live_receiver.url, [other_body], clock(),
                  sms_events.MO_TEXT)

    sender = WebhookSender(any_db, http, clock=clock)
    assert await sender.run_once() == 4
    assert (sender.posted, sender.failed, sender.expired) == (4, 0, 0)

    sinch = SinchClient(key_id="k", key_secret="s", project_id="p")
    ours, theirs = sinch.sms.sinch_events(project.webhook_secret), sinch.sms.sinch_events(other.webhook_secret)
    parsed: dict[type, Any] = {}
    for request in live_receiver.requests:
        assert (request.method, request.path) == ("POST", "/hooks/sms")
        assert request.headers["content-type"] == "application/json"
        assert request.headers[signing.TIMESTAMP_HEADER] == str(clock() // 1000)
        if request.body == other_body:
            assert theirs.validate_authentication_header(request.headers, request.body)
            assert not ours.validate_authentication_header(request.headers, request.body)
            continue
        assert ours.validate_authentication_header(request.headers, request.body)
        event = ours.parse_event(request.body, request.headers)
        parsed[type(event)] = event
    assert set(parsed) == {BatchDeliveryReport, RecipientDeliveryReport, MOTextMessage}
    assert parsed[BatchDeliveryReport].statuses[1].recipients == ["+46702"]
    assert parsed[RecipientDeliveryReport].recipient == "+46701"
    assert parsed[MOTextMessage].body == "Svar: ja"

    stored = await rows(any_db)
    assert {(r.state, r.delivered_ms, r.attempts, r.claimed_ms, r.last_error) for r in stored} == {
        (outbox.DELIVERED, clock(), 1, None, None)}
    assert await sender.run_once() == 0
    assert len(live_receiver.requests) == 4


# -- retries and backoff ------------------------------------------------------------------------


async def test_a_down_receiver_is_probed_with_growing_delays_and_gets_everything_once_up(
    any_db: Database, project: ProjectCredentials, receiver: WebhookReceiver,
    clock: ManualClock, http: httpx.AsyncClient,
) -> None:
    bodies = [report(i) for i in range(5)]
    await enqueue(any_db, project.project_id, receiver.url, bodies, clock())
    sender = WebhookSender(any_db, http, clock=clock, jitter=0)

    # Nothing is known about the URL yet: the first round tries every row, and all fail.
    assert await sender.run_once() == 5
    assert sender.failed == 5
    stored = await rows(any_db)
    assert all(r.state == outbox.PENDING and r.attempts == 1 and r.claimed_ms is None for r in stored)
    assert all("ConnectError" in r.last_error for r in stored)
    assert {r.due_ms - clock() for r in stored} == {1000}  # in-flight failures do not compound

    # While it stays down, each retry round sends one probe, and the delay before the next round
    # doubles; the other rows wait with it. The probe is the row tried least often (then the
    # oldest), so the rows take turns.
    gaps, probes = [], []
    for _ in range(4):
        assert await sender.run_once() == 0  # not due yet
        clock.now = min(r.due_ms for r in await rows(any_db))
        failed_before = sender.failed
        tried_before = {r.id: r.attempts for r in await rows(any_db)}
        assert await sender.run_once() == 1
        assert sender.failed == failed_before + 1
        stored = await rows(any_db)
        (probe,) = [r for r in stored if r.attempts != tried_before[r.id]]
        probes.append(probe.id)
        assert len({r.due_ms for r in stored}) == 1
        gaps.append(probe.due_ms - clock())
    assert gaps == [2000, 4000, 8000, 16000]
    assert probes == [r.id for r in stored[:4]]

    await receiver.start()
    clock.now = (await rows(any_db))[0].due_ms
    assert await sender.run_once() == 1  # the probe succeeds ...
    assert await sender.run_once() == 4  # ... and the URL is open to every row again
    assert sorted(receiver.bodies) == sorted(bodies)
    stored = await rows(any_db)
    assert [r.state for r in stored] == [outbox.DELIVERED] * 5
    assert [r.attempts for r in stored] == [3, 3, 3, 3, 2]
    assert sender.posted == 5


@pytest.mark.parametrize("status", [500, 503, 429, 408, 301])
async def test_a_receiver_answering_errors_is_retried_with_growing_delays_until_it_accepts(
    any_db: Database, project: ProjectCredentials, live_receiver: WebhookReceiver,
    clock: ManualClock, http: httpx.AsyncClient, status: int,
) -> None:
    live_receiver.statuses.extend([status] * 4)
    await enqueue(any_db, project.project_id, live_receiver.url, [report(1)], clock())
    sender = WebhookSender(any_db, http, clock=clock, jitter=0, base_delay=2.0)

    gaps = []
    for _ in range(4):
        clock.now = (await rows(any_db))[0].due_ms
        assert await sender.run_once() == 1
        (row,) = await rows(any_db)
        assert row.state == outbox.PENDING
        assert row.last_error == f"HTTP {status}: receiver unavailable"
        gaps.append(row.due_ms - clock())
    assert gaps == [2000, 4000, 8000, 16000]

    clock.now = (await rows(any_db))[0].due_ms
    assert await sender.run_once() == 1
    (row,) = await rows(any_db)
    assert (row.state, row.attempts, row.last_error) == (outbox.DELIVERED, 5, None)
    assert live_receiver.bodies == [report(1)] * 5
    nonces = {r.headers[signing.NONCE_HEADER] for r in live_receiver.requests}
    assert len(nonces) == 5  # each attempt is signed afresh
    assert (sender.posted, sender.failed) == (1, 4)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_a_row_the_receiver_refuses_with_a_4xx_is_not_retried_and_its_url_stays_open(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
    caplog: pytest.LogCaptureFixture, status: int,
) -> None:
    posted: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.content)
        return httpx.Response(status if request.content == report(1) else 200, text="no such batch")

    await enqueue(any_db, project.project_id, "http://r.test/hook", [report(1)], clock())
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=clock, jitter=0)
        with caplog.at_level(logging.WARNING, logger="tidings.webhooks.sender"):
            assert await sender.run_once() == 1
        (row,) = await rows(any_db)
        assert (row.state, row.attempts, row.last_error) == (
            outbox.REJECTED, 1, f"HTTP {status}: no such batch")
        assert (sender.rejected, sender.failed) == (1, 0)
        assert any("rejected" in r.getMessage() for r in caplog.records)

        # The receiver is up: the next row goes at once, and the refused one is never tried again.
        await enqueue(any_db, project.project_id, "http://r.test/hook", [report(2)], clock())
        assert await sender.run_once() == 1
        clock.advance(80 * HOUR)
        assert await sender.run_once() == 0
    assert posted == [report(1), report(2)]
    assert [r.state for r in await rows(any_db)] == [outbox.REJECTED, outbox.DELIVERED]


@pytest.mark.parametrize("retry_after", ["120", "Wed, 01 May 2024 12:02:00 GMT"])
async def test_a_receiver_asking_to_retry_after_a_pause_gets_nothing_before_it(
    any_db: Database, project: ProjectCredentials, clock: ManualClock, retry_after: str,
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": retry_after})

    await enqueue(any_db, project.project_id, "http://busy.test/hook", [report(1), report(2)], clock())
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=clock, jitter=0, per_url_concurrency=1)
        assert await sender.run_once() == 1
        assert all(r.due_ms == clock() + 120_000 for r in await rows(any_db))  # both wait 120 s
        clock.advance(119)
        assert await sender.run_once() == 0
        clock.advance(1)
        assert await sender.run_once() == 1


async def test_a_row_the_receiver_keeps_failing_on_does_not_hold_up_the_rows_after_it(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    """A receiver that answers 500 to one body (it crashes on it) and takes every other: the
    URL's probes go to the other rows in turn, so they are delivered at its first retry."""
    posted: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.content)
        return httpx.Response(500 if request.content == report(0) else 200)

    await enqueue(any_db, project.project_id, "http://r.test/hook", [report(0)], clock())
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=clock, jitter=0)
        assert await sender.run_once() == 1  # fails: the URL is backed off for a second
        await enqueue(any_db, project.project_id, "http://r.test/hook", [report(i) for i in range(1, 5)],
                      clock())
        assert await sender.run_once() == 0  # they wait with it
        assert posted == [report(0)]
        assert {r.due_ms for r in await rows(any_db)} == {clock() + 1000}
        clock.advance(1)
        assert await sender.run_once() == 1  # the probe: not the failing row, the least tried
        assert await sender.run_once() == 4  # the URL is open again (the failing row fails again)
        assert sorted(posted[1:]) == sorted([report(i) for i in range(5)])
        stored = await rows(any_db)
        assert [r.state for r in stored[1:]] == [outbox.DELIVERED] * 4
        assert stored[0].state == outbox.PENDING and stored[0].attempts == 2
        assert stored[0].due_ms == clock() + 2000  # its own backoff grows


async def test_slow_receivers_leave_slots_for_a_receiver_that_comes_due_after_them(
    any_db: Database, project: ProjectCredentials,
) -> None:
    gate = asyncio.Event()
    in_flight: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        try:
            if host != "fast.test":
                await gate.wait()
            return httpx.Response(200)
        finally:
            in_flight[host] -= 1

    now = int(time.time() * 1000)
    for n in range(3):
        await enqueue(any_db, project.project_id, f"http://slow{n}.test/hook",
                      [report(10 * n + i) for i in range(10)], now)
    stop = asyncio.Event()
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=lambda: int(time.time() * 1000),
                               concurrency=8, per_url_concurrency=8, poll_interval=0.01)
        run = asyncio.create_task(sender.run_forever(stop))
        try:
            async with asyncio.timeout(10):
                while sender.in_flight < 7:  # the slow receivers hold what they may ...
                    await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            assert sum(in_flight.values()) == 7  # ... which is not every slot
            assert all(in_flight[f"slow{n}.test"] >= 2 for n in range(3))  # each its share

            fast = [report(100 + i) for i in range(20)]
            await enqueue(any_db, project.project_id, "http://fast.test/hook", fast, int(time.time() * 1000))
            async with asyncio.timeout(10):
                while sender.posted < 20:
                    await asyncio.sleep(0.005)
            assert sum(in_flight.values()) == 7  # the slow ones are still stuck
        finally:
            gate.set()
        async with asyncio.timeout(10):
            while sender.posted < 50:
                await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(run, 5)


def test_backoff_doubles_from_the_base_is_capped_and_jitter_only_shortens_it() -> None:
    plain = WebhookSender(None, None, clock=lambda: 0, jitter=0, base_delay=1, max_delay=HOUR)  # type: ignore[arg-type]
    assert [plain.backoff_ms(n) for n in range(1, 8)] == [1000, 2000, 4000, 8000, 16000, 32000, 64000]
    assert plain.backoff_ms(13) == 3_600_000
    assert plain.backoff_ms(10_000) == 3_600_000

    jittered = WebhookSender(None, None, clock=lambda: 0, jitter=0.2, rng=random.Random(7))  # type: ignore[arg-type]
    for n in range(1, 14):
        full = plain.backoff_ms(n)
        samples = {jittered.backoff_ms(n) for _ in range(50)}
        assert all(0.8 * full <= s <= full for s in samples)
        assert len(samples) > 1
    # Growth survives jitter: the shortest delay after n failures beats the longest after n-1.
    assert 0.8 * plain.backoff_ms(2) >= plain.backoff_ms(1)


def test_a_lease_shorter_than_the_request_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="lease"):
        WebhookSender(None, None, clock=lambda: 0, timeout=10, lease_seconds=10)  # type: ignore[arg-type]


async def test_a_receiver_that_does_not_answer_in_time_counts_as_a_failure(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    await enqueue(any_db, project.project_id, "http://slow.test/hook", [report(1)], clock())
    async with mock_client(slow) as client:
        sender = WebhookSender(any_db, client, clock=clock, timeout=0.05, lease_seconds=1)
        started = time.monotonic()
        assert await sender.run_once() == 1
    assert time.monotonic() - started < 2
    (row,) = await rows(any_db)
    assert (row.state, row.attempts) == (outbox.PENDING, 1)
    assert row.last_error.startswith("timeout")


async def test_a_row_of_a_vanished_project_is_not_posted_unsigned(
    any_db: Database, clock: ManualClock,
) -> None:
    posted: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200)

    await enqueue(any_db, "no-such-project", "http://a.test/hook", [report(1)], clock())
    async with mock_client(handler) as client:
        assert await WebhookSender(any_db, client, clock=clock).run_once() == 1
    assert posted == []
    (row,) = await rows(any_db)
    assert (row.state, row.attempts, row.last_error) == (
        outbox.PENDING, 1, "project no-such-project not found")


# -- expiry ---------------------------------------------------------------------------------------


async def test_a_row_older_than_the_maximum_age_expires_unsent_with_a_log_line(
    any_db: Database, project: ProjectCredentials, live_receiver: WebhookReceiver,
    clock: ManualClock, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
) -> None:
    await enqueue(any_db, project.project_id, live_receiver.url, [report(1), report(2)], clock())
    await enqueue(any_db, project.project_id, live_receiver.url, [report(3)], clock() + 1)
    sender = WebhookSender(any_db, http, clock=clock)
    clock.advance(72 * HOUR)
    clock.now += 1  # the first two are now older than 72 h, the third exactly 72 h old
    with caplog.at_level(logging.WARNING, logger="tidings.webhooks.sender"):
        assert await sender.run_once() == 3
    assert live_receiver.bodies == [report(3)]
    assert [r.state for r in await rows(any_db)] == [outbox.EXPIRED, outbox.EXPIRED, outbox.DELIVERED]
    assert (sender.expired, sender.posted) == (2, 1)
    expired_logs = [r for r in caplog.records if "expired" in r.getMessage()]
    assert len(expired_logs) == 2
    assert {r.url for r in expired_logs} == {live_receiver.url}  # type: ignore[attr-defined]


async def test_a_row_whose_next_retry_would_be_too_late_expires_at_its_last_failure(
    any_db: Database, project: ProjectCredentials, receiver: WebhookReceiver,
    clock: ManualClock, http: httpx.AsyncClient,
) -> None:
    await enqueue(any_db, project.project_id, receiver.url, [report(1)], clock())
    sender = WebhookSender(any_db, http, clock=clock, jitter=0, base_delay=4, max_age_seconds=10)
    assert await sender.run_once() == 1  # fails; next try at +4 s
    clock.advance(4)
    assert await sender.run_once() == 1  # fails; next try would be at +12 s, past the 10 s age
    (row,) = await rows(any_db)
    assert (row.state, row.attempts) == (outbox.EXPIRED, 2)
    assert "ConnectError" in row.last_error
    assert (sender.failed, sender.expired) == (2, 1)
    clock.advance(60)
    assert await sender.run_once() == 0


# -- leases and concurrent senders ----------------------------------------------------------------


async def test_two_senders_running_concurrently_never_post_a_row_twice(
    any_db: Database, project: ProjectCredentials,
) -> None:
    counts: Counter[bytes] = Counter()
    rng = random.Random(3)

    async def handler(request: httpx.Request) -> httpx.Response:
        counts[request.content] += 1
        await asyncio.sleep(rng.random() * 0.003)
        return httpx.Response(200)

    now = int(time.time() * 1000)
    bodies = [report(i) for i in range(300)]
    for u in range(3):
        await enqueue(any_db, project.project_id, f"http://r{u}.test/hook", bodies[u::3], now)
    second_db = any_db if any_db.is_sqlite else Database(any_db.url)  # another process's pool

    def clock() -> int:
        return int(time.time() * 1000)

    stop = asyncio.Event()
    async with mock_client(handler) as client:
        a = WebhookSender(any_db, client, clock=clock, concurrency=8, per_url_concurrency=4,
                          poll_interval=0.01)
        b = WebhookSender(second_db, client, clock=clock, concurrency=8, per_url_concurrency=4,
                          poll_interval=0.01)
        runs = [asyncio.create_task(s.run_forever(stop)) for s in (a, b)]
        async with asyncio.timeout(30):
            while a.posted + b.posted < 300:
                await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*runs)
    if second_db is not any_db:
        await second_db.aclose()
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert a.posted > 0 and b.posted > 0
    assert a.posted + b.posted == 300
    assert {r.state for r in await rows(any_db)} == {outbox.DELIVERED}


async def test_senders_claiming_at_the_same_instant_split_the_rows(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    counts: Counter[bytes] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        counts[request.content] += 1
        await asyncio.sleep(0)
        return httpx.Response(200)

    bodies = [report(i) for i in range(60)]
    for u in range(6):
        await enqueue(any_db, project.project_id, f"http://r{u}.test/hook", bodies[u::6], clock())
    async with mock_client(handler) as client:
        senders = [WebhookSender(any_db, client, clock=clock, concurrency=7) for _ in range(3)]
        rounds = 0
        while sum(s.posted for s in senders) < 60:
            await asyncio.gather(*(s.run_once() for s in senders))
            rounds += 1
            assert rounds < 20
    assert len(counts) == 60 and set(counts.values()) == {1}


async def test_a_crashed_senders_claim_is_taken_over_only_after_the_lease(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    entered = asyncio.Event()
    delivered_by_b: list[bytes] = []

    async def hangs(request: httpx.Request) -> httpx.Response:
        entered.set()
        await asyncio.Event().wait()  # never answers: the process dies mid-post
        raise AssertionError("unreachable")

    async def accepts(request: httpx.Request) -> httpx.Response:
        delivered_by_b.append(request.content)
        return httpx.Response(204)

    await enqueue(any_db, project.project_id, "http://r.test/hook", [report(1)], clock())
    async with mock_client(hangs) as client_a, mock_client(accepts) as client_b:
        a = WebhookSender(any_db, client_a, clock=clock, lease_seconds=LEASE)
        b = WebhookSender(any_db, client_b, clock=clock, lease_seconds=LEASE)
        crashed = asyncio.create_task(a.run_once())
        await asyncio.wait_for(entered.wait(), 5)
        crashed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await crashed
        (row,) = await rows(any_db)
        claimed_at = clock()
        assert (row.state, row.claimed_ms, row.attempts) == (outbox.PENDING, claimed_at, 0)

        clock.advance(LEASE - 0.001)
        assert await b.run_once() == 0
        assert delivered_by_b == []
        clock.advance(0.001)
        assert await b.run_once() == 1
    assert delivered_by_b == [report(1)]
    (row,) = await rows(any_db)
    assert (row.state, row.delivered_ms, row.claimed_ms) == (outbox.DELIVERED, claimed_at + 60_000, None)


async def test_a_sender_that_outlived_its_lease_cannot_undo_the_takeover(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def late_error(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(500)

    async def accepts(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    await enqueue(any_db, project.project_id, "http://r.test/hook", [report(1)], clock())
    async with mock_client(late_error) as client_a, mock_client(accepts) as client_b:
        a = WebhookSender(any_db, client_a, clock=clock)
        b = WebhookSender(any_db, client_b, clock=clock)
        slow = asyncio.create_task(a.run_once())
        await asyncio.wait_for(entered.wait(), 5)
        clock.advance(LEASE)
        assert await b.run_once() == 1
        release.set()
        assert await slow == 1
    (row,) = await rows(any_db)
    assert (row.state, row.attempts, row.last_error) == (outbox.DELIVERED, 1, None)
    assert a.failed == 1 and b.posted == 1


# -- politeness and ordering ----------------------------------------------------------------------


async def test_a_failing_receiver_gets_one_probe_per_round_and_does_not_hold_up_others(
    any_db: Database, project: ProjectCredentials, clock: ManualClock,
) -> None:
    hits: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        hits[request.url.host] += 1
        return httpx.Response(503 if request.url.host == "down.test" else 200)

    for i in range(10):
        await enqueue(any_db, project.project_id, "http://down.test/hook", [report(i)], clock())
        await enqueue(any_db, project.project_id, "http://up.test/hook", [report(100 + i)], clock())
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=clock, jitter=0)
        assert await sender.run_once() == 20
        assert hits == {"down.test": 10, "up.test": 10}

        # New rows for the failing receiver wait for its retry time instead of being tried.
        await enqueue(any_db, project.project_id, "http://down.test/hook", [report(50), report(51)], clock())
        await enqueue(any_db, project.project_id, "http://up.test/hook", [report(150)], clock())
        assert await sender.run_once() == 1
        assert hits == {"down.test": 10, "up.test": 11}
        down = [r for r in await rows(any_db) if r.url == "http://down.test/hook"]
        assert {r.due_ms for r in down} == {clock() + 1000}

        for round_ in range(1, 4):
            clock.now = min(r.due_ms for r in await rows(any_db) if r.state == outbox.PENDING)
            assert await sender.run_once() == 1
            assert hits["down.test"] == 10 + round_
    assert sender.posted == 11


async def test_in_flight_posts_per_receiver_are_capped_and_a_slow_one_blocks_no_other(
    any_db: Database, project: ProjectCredentials,
) -> None:
    gate = asyncio.Event()
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        try:
            if host == "slow.test":
                await gate.wait()
            else:
                await asyncio.sleep(0.001)
            return httpx.Response(200)
        finally:
            in_flight[host] -= 1

    now = int(time.time() * 1000)
    await enqueue(any_db, project.project_id, "http://slow.test/hook", [report(i) for i in range(6)], now)
    await enqueue(any_db, project.project_id, "http://fast.test/hook", [report(10 + i) for i in range(20)], now)
    stop = asyncio.Event()
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=lambda: int(time.time() * 1000),
                               concurrency=6, per_url_concurrency=2, poll_interval=0.01)
        run = asyncio.create_task(sender.run_forever(stop))
        async with asyncio.timeout(10):
            while sender.posted < 20:
                await asyncio.sleep(0.005)
        assert in_flight["slow.test"] == 2  # still stuck, and only two of its rows hold slots
        gate.set()
        async with asyncio.timeout(10):
            while sender.posted < 26:
                await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(run, 5)
    assert peak == {"slow.test": 2, "fast.test": 2}


async def test_rows_for_one_receiver_go_oldest_first(
    any_db: Database, project: ProjectCredentials, live_receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    bodies = [report(i) for i in range(8)]
    now = int(time.time() * 1000)
    await enqueue(any_db, project.project_id, live_receiver.url, bodies[4:], now)
    await enqueue(any_db, project.project_id, live_receiver.url, bodies[:4], now - 1000)  # due earlier
    stop = asyncio.Event()
    sender = WebhookSender(any_db, http, clock=lambda: int(time.time() * 1000),
                           per_url_concurrency=1, poll_interval=0.01)
    run = asyncio.create_task(sender.run_forever(stop))
    await live_receiver.wait_for(8)
    stop.set()
    await asyncio.wait_for(run, 5)
    assert live_receiver.bodies == bodies[:4] + bodies[4:]


async def test_stopping_lets_posts_in_flight_finish_and_record_their_outcome(
    any_db: Database, project: ProjectCredentials,
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200)

    await enqueue(any_db, project.project_id, "http://r.test/hook", [report(1)], int(time.time() * 1000))
    stop = asyncio.Event()
    async with mock_client(handler) as client:
        sender = WebhookSender(any_db, client, clock=lambda: int(time.time() * 1000))
        run = asyncio.create_task(sender.run_forever(stop))
        await asyncio.wait_for(entered.wait(), 5)
        stop.set()
        await asyncio.sleep(0.05)
        assert not run.done()  # waiting for the post in flight
        release.set()
        await asyncio.wait_for(run, 5)
    (row,) = await rows(any_db)
    assert row.state == outbox.DELIVERED


async def test_wake_has_an_idle_sender_claim_at_once_and_counts_what_this_process_enqueued(
    any_db: Database, project: ProjectCredentials, live_receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    stop = asyncio.Event()
    sender = WebhookSender(any_db, http, clock=lambda: int(time.time() * 1000), poll_interval=120.0)
    run = asyncio.create_task(sender.run_forever(stop))
    try:
        await asyncio.sleep(0.2)  # its first round found nothing: it waits out its poll now
        before = outbox.enqueued_here()
        await enqueue(any_db, project.project_id, live_receiver.url, [report(1), report(2)], int(time.time() * 1000))
        assert outbox.enqueued_here() == before + 2
        await asyncio.sleep(0.2)
        assert live_receiver.bodies == []  # not woken: left to the poll
        sender.wake()
        await live_receiver.wait_for(2)
        sender.wake()  # a wake with nothing to claim is a round that finds nothing
        await enqueue(any_db, project.project_id, live_receiver.url, [report(3)], int(time.time() * 1000))
        sender.wake()
        await live_receiver.wait_for(3)
        assert live_receiver.bodies == [report(1), report(2), report(3)]
    finally:
        stop.set()
        await asyncio.wait_for(run, 5)
