"""BackgroundTasks: a stop waits for what connectors started after answering, within a bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from tidings.channels.background import BackgroundTasks
from tidings.channels.contract import ChannelEvent, StatusEvent


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[ChannelEvent] = []
        self.fail = fail

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.events.extend(events)


async def test_delivered_is_reported_after_the_caller_goes_on() -> None:
    tasks, sink, order = BackgroundTasks("test"), Sink(), []
    tasks.report_delivered("TELEGRAM", "42:7", lambda: sink, lambda: 1_000)
    order.append("send recorded")
    assert sink.events == []
    await tasks.aclose()
    assert order == ["send recorded"]
    assert sink.events == [StatusEvent("TELEGRAM", "42:7", "DELIVERED", 1_000)]
    assert len(tasks) == 0


async def test_no_sink_yet_reports_nothing_and_a_failing_sink_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    tasks, failing = BackgroundTasks("email"), Sink(fail=True)
    tasks.report_delivered("EMAIL", "a@b", lambda: None, lambda: 1)
    tasks.report_delivered("EMAIL", "c@d", lambda: failing, lambda: 1)
    with caplog.at_level(logging.ERROR):
        await tasks.aclose()
    assert "email: recording DELIVERED for c@d failed" in caplog.text
    assert "a@b" not in caplog.text


async def test_a_stop_waits_for_slow_work_and_what_it_starts() -> None:
    tasks, done = BackgroundTasks("rcs"), []

    async def second() -> None:
        await asyncio.sleep(0.05)
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0.05)
        done.append("first")
        tasks.spawn(second())

    tasks.spawn(first())
    await tasks.aclose(timeout=5)
    assert done == ["first", "second"]


async def test_work_outlasting_the_bound_is_cancelled_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    tasks, cancelled = BackgroundTasks("rcs"), asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tasks.spawn(stuck())
    with caplog.at_level(logging.WARNING):
        await tasks.aclose(timeout=0.1)
    assert cancelled.is_set() and len(tasks) == 0
    assert "rcs: 1 background tasks cancelled at the stop" in caplog.text
