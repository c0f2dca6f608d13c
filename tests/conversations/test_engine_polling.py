"""How the engine learns of work: it polls, less and less often while there is nothing to do,
and acts at once on work its own process's API accepted (`Context.conversation_work`)."""

from __future__ import annotations

import asyncio

from tidings.conversations.engine import ConversationEngine
from tidings.store.db import Database

from .test_engine_claims import NOW


async def test_an_idle_engine_polls_less_and_less_often(any_db: Database) -> None:
    engine = ConversationEngine(any_db, lambda: NOW, {}, poll_seconds=0.01, idle_poll_seconds=0.08)
    rounds = 0
    run_once = engine.run_once

    async def counted() -> int:
        nonlocal rounds
        rounds += 1
        return await run_once()

    engine.run_once = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    await asyncio.sleep(0.8)
    stop.set()
    engine.wakeup.set()
    await asyncio.wait_for(task, 2.0)
    # Waits of 10, 20, 40 ms, then 80 ms each: about a dozen rounds, not the 80 of a steady 10 ms.
    assert 3 <= rounds <= 16, rounds
