"""Durable dispatch: the queue that carries due delivery ids to workers, and rate limiters.

The database is the source of truth (a delivery is Queued until a worker's claim succeeds);
the queue only says "look at these". Losing a queue entry delays a message until the sweeper
republishes it; it never loses it.
"""
