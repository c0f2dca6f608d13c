"""Putting committed deliveries on the dispatch queue, and what happens when the queue is away.

A delivery marked published with no queue entry behind it waits a lease or more for the
sweeper's `republish_stale`; one marked unpublished is published by the sweeper's next round. So a
publish that fails (Redis away, or failing fast just after: `PUBLISH_RETRY_SECONDS`) marks its
deliveries unpublished again. Used by the API after it commits a send and by the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tidings.runtime.context import Context
from tidings.store import deliveries as dq

log = logging.getLogger(__name__)

__all__ = ["publish_or_unpublish"]


async def publish_or_unpublish(ctx: Context, ids: Sequence[int], priority: bool = False) -> None:
    """Publish `ids`; when that fails, mark those still Queued and unclaimed unpublished, then
    raise what the queue raised."""
    if not ids:
        return
    try:
        await ctx.dispatch.publish(ids, priority=priority)
    except Exception:
        try:
            async with ctx.db.write() as conn:
                await dq.unpublish(conn, ids)
        except Exception:  # noqa: BLE001 - still published: the sweeper finds them a lease later
            log.warning("marking %d deliveries unpublished after a failed publish failed too", len(ids),
                        exc_info=True)
        raise
