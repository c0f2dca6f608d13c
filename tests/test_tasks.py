"""Stopping a background task ends it, even one that lost its first cancellation."""

from __future__ import annotations

import asyncio

import pytest

from tidings.tasks import cancel_and_wait


async def test_a_task_that_lost_its_cancellation_is_cancelled_again() -> None:
    """The loss is the one Python 3.11's asyncio.wait_for causes; here the task swallows the first
    cancel itself, so the test does not depend on the Python version."""
    more_work = asyncio.Event()
    swallowed = 0

    async def worker() -> None:
        nonlocal swallowed
        while True:
            try:
                await more_work.wait()
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task, recancel_after_s=0.05)
    assert task.cancelled() and swallowed == 1


async def test_a_task_losing_its_cancellation_inside_wait_for_still_stops() -> None:
    """The race itself: the awaited future completes in the same loop turn as the cancel."""
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    idle = asyncio.Event()
    answers: list[str] = []

    async def worker() -> None:
        answers.append(await asyncio.wait_for(answer, 10))
        await idle.wait()  # the next piece of work, which never comes

    task = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0)
    answer.set_result("250 OK")
    async with asyncio.timeout(5):
        await cancel_and_wait(task, recancel_after_s=0.05)
    assert task.done()


async def test_clean_up_after_the_cancel_is_not_cut_short() -> None:
    cleaned = asyncio.Event()

    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
            cleaned.set()
            raise

    task = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0)
    await cancel_and_wait(task, recancel_after_s=1.0)
    assert cleaned.is_set()


async def test_every_task_is_waited_for_and_an_error_is_raised() -> None:
    ended: list[str] = []

    async def failing() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("failing")
            raise RuntimeError("broken on the way out")  # noqa: B012 - the error under test

    async def quiet() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("quiet")

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(failing()), loop.create_task(quiet())]
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken on the way out"):
        await cancel_and_wait(tasks)
    assert sorted(ended) == ["failing", "quiet"] and all(task.done() for task in tasks)


async def test_nothing_to_stop() -> None:
    await cancel_and_wait(None)
    await cancel_and_wait([])
