"""Webhook test fixtures: a receiver on a real socket, a manual clock, a project to sign for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.store.db import Database
from tidings.webhooks.testing import ManualClock, WebhookReceiver

START_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A receiver that is down (connections refused) until the test calls `start()`."""
    r = WebhookReceiver()
    yield r
    await r.stop()


@pytest.fixture
async def live_receiver(receiver: WebhookReceiver) -> WebhookReceiver:
    await receiver.start()
    return receiver


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
async def project(any_db: Database) -> ProjectCredentials:
    return await do_create_project(any_db, "webhooks", START_MS)
