"""How far this process's clock is from the database's (distributed profile).

Leases are times one process writes and another judges against its own clock: a delivery or a
webhook row claimed by worker A at A's `now` is taken over by worker B once B's `now` is a lease
past it. A process whose clock runs a lease (60 s) ahead sees live claims as lapsed and sends
their messages again; one running behind holds a dead worker's work longer. NTP keeps machines
within milliseconds of each other; this check catches a machine without it before it does harm.

`tidings api`, `tidings worker` and `tidings smpp` measure their offset from PostgreSQL's clock when they start
and refuse to start past `TIDINGS_MAX_CLOCK_SKEW_SECONDS` (10 s by default, a sixth of the leases);
a worker measures again every minute and logs an error while it is past. The embedded profile
has one process and one clock: nothing to check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text

from tidings.core.errors import TidingsError
from tidings.store.db import Database

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
_DB_NOW_MS = text("SELECT extract(epoch from clock_timestamp()) * 1000")


class ClockSkewError(TidingsError):
    """This process's clock is too far from the database's for leases to be judged safely."""


async def clock_offset_ms(db: Database, clock: Callable[[], float]) -> float:
    """This process's clock minus the database's, in ms, the database read halfway through the
    round trip (so the trip's length does not count as skew)."""
    before = clock()
    async with db.read() as conn:
        db_ms = float((await conn.execute(_DB_NOW_MS)).scalar_one())
    after = clock()
    return (before + after) / 2 - db_ms


async def check_clock(db: Database, max_skew_seconds: float, clock: Callable[[], float]) -> float:
    """The offset in ms; ClockSkewError past `max_skew_seconds` either way."""
    offset = await clock_offset_ms(db, clock)
    if abs(offset) > max_skew_seconds * 1000:
        raise ClockSkewError(
            f"this machine's clock is {offset / 1000:+.1f} s from the database's (at most "
            f"{max_skew_seconds:g} s allowed, TIDINGS_MAX_CLOCK_SKEW_SECONDS): leases would be judged "
            "wrongly and messages sent twice; synchronise the clock (NTP) and start again")
    if abs(offset) > 1000:
        log.warning("this machine's clock is %+.1f s from the database's", offset / 1000)
    return offset


async def watch_clock(db: Database, max_skew_seconds: float, clock: Callable[[], float],
                      stop: asyncio.Event, every: float = RECHECK_SECONDS) -> None:
    """Measure again every `every` seconds until `stop`; an error is logged while past the limit
    (a running worker keeps running: stopping it would strand what it holds)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass
        try:
            await check_clock(db, max_skew_seconds, clock)
        except ClockSkewError as exc:
            log.error("%s", exc)
        except Exception:  # noqa: BLE001 - the database may be away for a while; measure next time
            log.warning("could not compare the clock with the database's", exc_info=True)
