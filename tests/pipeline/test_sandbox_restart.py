"""The embedded profile stopped and started again on its data directory: the sandbox carrier
network keeps its handsets' inboxes and its rules, and a message whose receipt it still owed at
the stop reaches Delivered through that receipt after the restart, not through the receipt
deadline an hour later."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import httpx

from tidings.runtime.embedded import SANDBOX_SETTLE_SECONDS
from tidings.sandbox.state_file import state_path
from tidings.testing.platform import running_platform

from .helpers import FROM, handset_messages, wait_handset, wait_status

LATENCY_MS = 5000  # longer than the stop's wait for the sandbox to settle
SLOW = "+46701510001"
EARLY = "+46701520001"


async def test_a_receipt_owed_at_a_stop_arrives_after_the_restart(tmp_path: Path) -> None:
    assert LATENCY_MS / 1000 > SANDBOX_SETTLE_SECONDS
    data_dir = str(tmp_path / "data")
    async with httpx.AsyncClient(timeout=10.0) as http:
        async with running_platform("embedded", data_dir) as first:
            early = await first.send(http, to=[EARLY], body="delivered before the stop", **{"from": FROM})
            await wait_status(first, http, early["id"], EARLY, "Delivered")
            rule = await http.put(f"{first.base_url}/sandbox/v1/rules/%2B4670151", json={"latency_ms": LATENCY_MS})
            assert rule.status_code == 200, rule.text
            sent_ms = time.time_ns() // 1_000_000
            slow = await first.send(http, to=[SLOW], body="owed across the restart", **{"from": FROM})
            await wait_status(first, http, slow["id"], SLOW, "Dispatched")
            creds = first.creds
        # The stop gave up waiting for the slow receipt: still Dispatched, the receipt saved.
        assert os.path.exists(state_path(data_dir))
        assert time.time_ns() // 1_000_000 < sent_ms + LATENCY_MS, "the stop outlasted the latency"

        async with running_platform("embedded", data_dir) as second:
            second = dataclasses.replace(second, creds=creds)  # the batches belong to the first project
            rules = (await http.get(f"{second.base_url}/sandbox/v1/rules")).json()["rules"]
            assert {"prefix": "+4670151", "latency_ms": {"min": LATENCY_MS, "max": LATENCY_MS}}.items() <= \
                next(r for r in rules if r["prefix"] == "+4670151").items()
            [kept] = await handset_messages(second, http, EARLY)
            assert kept["body"] == "delivered before the stop"

            report = await wait_status(second, http, slow["id"], SLOW, "Delivered", timeout=LATENCY_MS / 1000 + 5)
            assert report["code"] == 0
            [message] = await wait_handset(second, http, SLOW)
            assert message["body"] == "owed across the restart"
            # Not before its latency, give or take the few ms the loop's clock (which times it) and
            # the wall clock (which stamps it) may disagree by.
            assert second.sandbox.messages_for(SLOW)[0].received_at_ms >= sent_ms + LATENCY_MS - 3
            assert len(await handset_messages(second, http, SLOW)) == 1
            assert len(await handset_messages(second, http, EARLY)) == 1
