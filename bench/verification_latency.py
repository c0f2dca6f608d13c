"""Verification latency: start call → code on the sandbox handset, alone and under bulk load.

    .venv/bin/python bench/verification_latency.py
    .venv/bin/python bench/verification_latency.py --verifications 400 --rate 8 --bulk-batches 100

Starts `tidings serve` (embedded profile) as a subprocess (bench/servers.py), then runs two
phases of SMS verifications, each a signed `POST /verification/v1/verifications` at a steady
`--rate`, one task per verification:

- **alone**: nothing else is being sent;
- **bulk**: while `--bulk-batches` XMS batches of `--bulk-size` recipients (100 × 1,000 =
  100,000 messages by default) are submitted through `POST /xms/v1/{plan}/batches` and delivered;
  verifications start once `--start-after` of the batches (a tenth by default) are accepted;
  `--start-after 1` starts them when every batch is accepted, while the backlog is being delivered.

Latency of one verification = the handset's `received_at` for the code's SMS (the sandbox's clock,
this machine's wall clock, milliseconds) minus the wall-clock time just before the start request
was written. Each code is read from the handset (`GET /sandbox/v1/handsets/{n}/messages`, polled
gently — polling does not enter the figure) and reported back (`PUT …/verifications/id/{id}`),
which must answer SUCCESSFUL: a verification that fails counts as an error.

The simulated carrier's own delay (the sandbox rule's `latency_ms`, 20–200 ms by default) is set
to `--carrier-latency-ms` (0 by default) so the figure is Tidings' latency; pass `--carrier-latency-ms
-1` to keep the sandbox's default draw. Verifications go to distinct numbers over 100 number prefixes
from distinct loopback addresses (127.0.0.x, `--per-ip` each) so the fraud guard's per-number,
per-prefix and per-IP windows — meant for one person, one range, one client — do not refuse a
benchmark that stands for many users.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import post_json, run_load
from servers import Server, start_embedded

from tidings.verify import signing

START_PATH = "/verification/v1/verifications"
BULK_HANDSETS = 100_000  # one message per handset: no frequency cap defers the bulk load


def verification_number(i: int) -> str:
    """Distinct Swedish mobile numbers over 100 six-digit prefixes (+4670 00…99)."""
    return f"+4670{i % 100:02d}{i // 100:05d}"


def bulk_number(i: int) -> str:
    return f"+4673{1_000_000 + i % BULK_HANDSETS}"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@dataclass
class PhaseResult:
    phase: str
    verifications: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    start_p50_ms: float  # the start request's own HTTP latency
    bulk_accepted: int = 0
    bulk_delivered_during: int = 0  # bulk messages Delivered while the verifications ran
    bulk_pending_after: int = 0  # bulk messages still Queued/Dispatched when the phase ended
    error_samples: list[str] = field(default_factory=list)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Verifier:
    def __init__(self, server: Server, per_ip: int) -> None:
        self.base = f"http://127.0.0.1:{server.port}"
        self.key = server.creds["application_key"]
        self.secret = server.creds["application_secret"]
        self.per_ip = per_ip
        self._clients: dict[str, httpx.AsyncClient] = {}
        self.reader = httpx.AsyncClient(base_url=self.base, timeout=30)

    def client(self, i: int) -> httpx.AsyncClient:
        address = f"127.0.0.{2 + i // self.per_ip}"
        if address not in self._clients:
            transport = httpx.AsyncHTTPTransport(local_address=address)
            self._clients[address] = httpx.AsyncClient(base_url=self.base, transport=transport, timeout=30)
        return self._clients[address]

    async def signed(self, client: httpx.AsyncClient, method: str, path: str, payload: Any) -> httpx.Response:
        body = orjson.dumps(payload)
        headers = signing.headers(self.key, self.secret, method, body, path, int(time.time() * 1000))
        return await client.request(method, path, content=body, headers=headers)

    async def one(self, i: int) -> tuple[float, float]:
        """(start → handset ms, start request ms) of verification `i`; raises on any failure."""
        number = verification_number(i)
        client = self.client(i)
        payload = {"identity": {"type": "number", "endpoint": number}, "method": "sms", "reference": f"bench-{i}"}
        t0 = time.time()
        response = await self.signed(client, "POST", START_PATH, payload)
        start_ms = (time.time() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"start {number}: {response.status_code} {response.text[:200]}")
        vid = response.json()["id"]
        message = await self._code_message(number)
        latency = _ms(message["received_at"]) - t0 * 1000
        code = message["body"].removeprefix("Your code is ")
        reported = await self.signed(client, "PUT", f"{START_PATH}/id/{vid}", {"method": "sms", "sms": {"code": code}})
        if reported.status_code != 200 or reported.json().get("status") != "SUCCESSFUL":
            raise RuntimeError(f"report {number}: {reported.status_code} {reported.text[:200]}")
        return latency, start_ms

    async def _code_message(self, number: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        path = f"/sandbox/v1/handsets/{number.lstrip('+')}/messages"
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            r = await self.reader.get(path)
            for message in r.json().get("messages", []):
                if message["body"].startswith("Your code is "):
                    return message  # type: ignore[no-any-return]
        raise RuntimeError(f"no code reached {number} within {timeout:.0f}s")

    async def phase(self, name: str, first: int, count: int, rate: float) -> PhaseResult:
        latencies: list[float] = []
        starts: list[float] = []
        errors: list[str] = []

        async def run(i: int) -> None:
            try:
                latency, start_ms = await self.one(i)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors.append(str(exc))
            else:
                latencies.append(latency)
                starts.append(start_ms)

        tasks = []
        began = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(run(first + n)))
        await asyncio.gather(*tasks)
        return PhaseResult(name, count, len(errors), percentile(latencies, 50), percentile(latencies, 90),
                           percentile(latencies, 99), max(latencies, default=float("nan")),
                           percentile(starts, 50), error_samples=errors[:3])

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self.reader.aclose()


async def _set_carrier_latency(server: Server, latency_ms: int) -> None:
    if latency_ms < 0:
        return
    async with httpx.AsyncClient() as http:
        r = await http.put(f"{server.sandbox_url}/sandbox/v1/rules/default", json={"latency_ms": latency_ms})
        r.raise_for_status()


async def bulk_load(server: Server, batches: int, size: int, concurrency: int, start_after: float,
                    accepted: asyncio.Event, counter: list[int]) -> None:
    plan, token = server.creds["service_plan_id"], server.creds["api_token"]
    path = f"/xms/v1/{plan}/batches"
    tag = f"bulk-{time.time_ns()}"

    def make(i: int) -> bytes:
        counter[0] += 1
        if start_after < 1 and counter[0] > max(1, int(batches * start_after)):
            accepted.set()
        to = [bulk_number(i * size + j) for j in range(size)]
        body = json.dumps({"from": "Tidings", "to": to, "body": f"{tag} {i}"}).encode()
        return post_json("127.0.0.1", server.port, path, body, token)

    load = await run_load("127.0.0.1", server.port, batches, concurrency, make)
    accepted.set()
    counter[1] = load.statuses.get(201, 0) * size


async def run(args: argparse.Namespace, workdir: Path) -> list[PhaseResult]:
    server = await start_embedded(workdir)
    verifier = Verifier(server, args.per_ip)
    try:
        await _set_carrier_latency(server, args.carrier_latency_ms)
        await verifier.phase("warmup", 0, args.warmup, args.rate)
        first = args.warmup
        alone = await verifier.phase("alone", first, args.verifications, args.rate)
        first += args.verifications
        results = [alone]
        if args.bulk_batches:
            since_ms = int(time.time() * 1000)
            accepted, counter = asyncio.Event(), [0, 0]
            bulk = asyncio.create_task(bulk_load(server, args.bulk_batches, args.bulk_size,
                                                 args.bulk_concurrency, args.start_after, accepted, counter))
            await accepted.wait()
            before, _, _ = await server.delivered(since_ms)
            loaded = await verifier.phase("bulk", first, args.verifications, args.rate)
            after, pending, _ = await server.delivered(since_ms)
            await bulk
            loaded.bulk_accepted = counter[1]
            loaded.bulk_delivered_during = after - before
            loaded.bulk_pending_after = pending
            results.append(loaded)
            if args.wait_bulk:
                deadline = time.monotonic() + 900
                while pending and time.monotonic() < deadline:
                    await asyncio.sleep(1)
                    _, pending, _ = await server.delivered(since_ms)
        return results
    finally:
        await verifier.aclose()
        await server.stop()


def report(results: list[PhaseResult]) -> str:
    head = (f"{'phase':<6} {'n':>5} {'err':>4} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'start p50':>9} {'bulk accepted':>13} {'bulk delivered meanwhile':>24} {'bulk left':>9}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.phase:<6} {r.verifications:>5} {r.errors:>4} {r.p50_ms:>7.1f} {r.p90_ms:>7.1f} "
                     f"{r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.start_p50_ms:>9.1f} {r.bulk_accepted:>13} "
                     f"{r.bulk_delivered_during:>24} {r.bulk_pending_after:>9}")
        lines += [f"       error: {e}" for e in r.error_samples]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verifications", type=int, default=250, help="per phase")
    parser.add_argument("--rate", type=float, default=8.0, help="verification starts per second")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--bulk-batches", type=int, default=100)
    parser.add_argument("--bulk-size", type=int, default=1000)
    parser.add_argument("--bulk-concurrency", type=int, default=4)
    parser.add_argument("--start-after", type=float, default=0.1,
                        help="fraction of the bulk batches accepted before the verifications start")
    parser.add_argument("--carrier-latency-ms", type=int, default=0)
    parser.add_argument("--per-ip", type=int, default=25, help="verifications per loopback source address")
    parser.add_argument("--wait-bulk", action="store_true", help="wait for the bulk load to be delivered")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidings-bench-verify-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    shown = [r for r in results if r.phase != "warmup"]
    print(report(shown), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in shown], indent=2))
    met = all(r.errors == 0 and r.p50_ms < 100 and r.p99_ms < 500 for r in shown)
    print("targets (p50 < 100 ms, p99 < 500 ms):", "met" if met else "not met")
    return 0 if all(r.errors == 0 for r in shown) else 1


if __name__ == "__main__":
    sys.exit(main())
