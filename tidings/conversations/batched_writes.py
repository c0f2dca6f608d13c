"""Group commit for the conversation engine's small write transactions.

`WriteBatcher.run(fn)` runs `fn(conn)` inside a write transaction and returns its result once
that transaction has committed. Calls made while a transaction is being written queue up and
the next transaction runs all of them, one after the other on one connection, so a batch of
claimed messages costs one commit (and, on SQLite, one turn of the process's write lock)
instead of one each. When a combined transaction fails, every call in it is run again in a
transaction of its own, so one bad step cannot fail its neighbours; `fn` must therefore only
touch the database (it may be run twice, the first run rolled back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.db import Database

log = logging.getLogger(__name__)

__all__ = ["WriteBatcher"]

T = TypeVar("T")
MAX_BATCH = 512

Work = Callable[[AsyncConnection], Awaitable[Any]]


class WriteBatcher:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max = max_batch
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._inflight: list[tuple[Work, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name="conversation-write-batch")
        return await future

    async def _drain(self) -> None:
        try:
            await self._drain_all()
        except BaseException:
            for _, fut in self._inflight + self._pending:
                fut.cancel()
            self._inflight = []
            self._pending = []
            raise

    async def _drain_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._max], self._pending[self._max:]
            batch = [(fn, fut) for fn, fut in batch if not fut.done()]  # a caller gave up
            if not batch:
                continue
            self._inflight = batch
            try:
                results = []
                async with self._db.write() as conn:
                    for fn, _ in batch:
                        results.append(await fn(conn))
                self.transactions += 1
            except Exception:  # noqa: BLE001 - one of them failed: each again on its own
                if len(batch) == 1:
                    await self._alone(*batch[0])
                else:
                    for fn, fut in batch:
                        await self._alone(fn, fut)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def _alone(self, fn: Work, fut: asyncio.Future[Any]) -> None:
        try:
            async with self._db.write() as conn:
                result = await fn(conn)
            self.transactions += 1
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(result)
