"""Waking the webhook sender as soon as the transaction that enqueued rows commits.

The sender polls the outbox (`TIDINGS_WEBHOOK_POLL_SECONDS`), but a row should go out when it is
committed, not at the next poll. `EnqueueWatch` is a `Database.after_write` hook: after each
committed write transaction it compares `outbox.enqueued_here()` with what it saw last and, when
that moved, calls its callback once. The pipeline's callback wakes its own sender
(`WebhookSender.wake`); an API process of the distributed profile, which has no sender, announces
the rows to the workers' senders over the dispatch queue (`DispatchQueue.announce(WEBHOOKS)`).
"""

from __future__ import annotations

from collections.abc import Callable

from tidings.webhooks import outbox


class EnqueueWatch:
    """An `after_write` hook calling `on_enqueued` once per committed write transaction after
    which this process had enqueued more webhook rows than before."""

    def __init__(self, on_enqueued: Callable[[], None]) -> None:
        self._on_enqueued = on_enqueued
        self._seen = outbox.enqueued_here()

    def __call__(self) -> None:
        enqueued = outbox.enqueued_here()
        if enqueued != self._seen:
            self._seen = enqueued
            self._on_enqueued()
