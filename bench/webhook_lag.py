"""Webhook lag: how long a committed change waits before its webhook reaches the receiver.

    .venv/bin/python bench/webhook_lag.py                      # both profiles
    .venv/bin/python bench/webhook_lag.py --profile distributed --count 200

Starts Tidings as real processes (bench/servers.py) and a receiver on 127.0.0.1, then, one at a
time `--gap-ms` apart:

- **reports**: single sends with `delivery_report=per_recipient_final`; their report is written
  by the worker side (the outcome writer, when the receipt arrives);
- **cancels**: batches scheduled for 2099, each cancelled; the `Cancelled` report is written by
  the API side (in the distributed profile another process than the one whose sender posts it).

Lag of one webhook = its arrival at the receiver (wall clock) minus the report's `at` (the time
the status changed, the same machine's clock). Prints p50, p90 and the maximum per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import Server, drop_distributed, start_distributed, start_embedded  # noqa: E402

from tidings.actions.batch_checks import check_datetime  # noqa: E402
from tidings.webhooks.testing import ReceivedRequest, WebhookReceiver  # noqa: E402


def _auth(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.creds['api_token']}"}


def _batches_url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/xms/v1/{server.creds['service_plan_id']}/batches"


async def changes(server: Server, http: httpx.AsyncClient, receiver: WebhookReceiver, count: int,
                  gap: float, *, cancel: bool) -> list[int]:
    """`count` single-recipient batches `gap` apart: sent now with a `per_recipient_final` report,
    or (`cancel`) scheduled for 2099 and cancelled; the lag of each one's webhook."""
    first = len(receiver.requests)
    for i in range(count):
        later = {"send_at": "2099-01-01T00:00:00Z", "delivery_report": "per_recipient"} if cancel else \
            {"delivery_report": "per_recipient_final"}
        response = await http.post(_batches_url(server), headers=_auth(server), json={
            "from": "Tidings", "to": [f"+46701{9 if cancel else 8}0{i:04d}"], "body": f"lag {i}",
            "callback_url": receiver.url, **later})
        response.raise_for_status()
        if cancel:
            batch_id = response.json()["id"]
            (await http.delete(f"{_batches_url(server)}/{batch_id}", headers=_auth(server))).raise_for_status()
        await asyncio.sleep(gap)
    await receiver.wait_for(first + count, timeout=60.0)
    return [_lag_ms(request) for request in receiver.requests[first:first + count]]


def _lag_ms(request: ReceivedRequest) -> int:
    """From the report's `at` (the status change) to its arrival at the receiver."""
    at = check_datetime("at", json.loads(request.body)["at"])
    assert at is not None  # every report carries the time of its status
    return request.received_ms - at


def _summary(lags: list[int]) -> str:
    ordered = sorted(lags)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"p50 {statistics.median(ordered):6.0f} ms   p90 {p90:6.0f} ms   max {ordered[-1]:6.0f} ms"


async def run(profile: str, count: int, gap: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tidings-webhook-lag-") as tmp:
        if profile == "embedded":
            server = await start_embedded(Path(tmp))
        else:
            server = await start_distributed(Path(tmp), api_workers=1, workers=1)
        receiver = WebhookReceiver()
        await receiver.start()
        try:
            async with httpx.AsyncClient(timeout=30.0) as http:
                await changes(server, http, receiver, 5, gap, cancel=False)  # warm-up
                results = {"reports": await changes(server, http, receiver, count, gap, cancel=False),
                           "cancels": await changes(server, http, receiver, count, gap, cancel=True)}
        finally:
            await receiver.stop()
            await server.stop()
            if profile == "distributed":
                await drop_distributed(server)
    for phase, lags in results.items():
        print(f"{profile:12} {phase:8} n={len(lags):4}   {_summary(lags)}", flush=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--count", type=int, default=100, help="webhooks per phase")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause between two changes")
    args = parser.parse_args()
    profiles = ["embedded", "distributed"] if args.profile == "both" else [args.profile]
    for profile in profiles:
        await run(profile, args.count, args.gap_ms / 1000)


if __name__ == "__main__":
    asyncio.run(main())
