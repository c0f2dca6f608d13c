"""SMS throughput, end to end: HTTP API → durable accept → SMPP → sandbox SMSC → Delivered.

    .venv/bin/python bench/sms_throughput.py                      # both profiles (make bench)
    .venv/bin/python bench/sms_throughput.py --profile embedded --singles 20000 --batch-recipients 100000
    .venv/bin/python bench/sms_throughput.py --profile embedded --accept-only   # the API's accept path alone

For each profile it starts Tidings as real processes (bench/servers.py), then runs two phases:
single-recipient send requests (`--concurrency` keep-alive clients) and batch requests
(`--batch-size` recipients each). Per phase it prints accepted/s (201s, i.e. committed), API
latency p50/p99, delivered/s end to end (accepted → handset received → Delivered receipt written:
all of the phase's deliveries Delivered, timed by the newest one's status time) and the server
processes' CPU time per message delivered; at the end, their peak RSS. A few handsets are read
back through the sandbox REST API to check the message arrived.

This machine's cores are shared by the load generator and the server processes: every figure
is what the server does while a client competes with it for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import post_json, run_load  # noqa: E402
from servers import Server, drop_distributed, start_distributed, start_embedded  # noqa: E402

HANDSETS = 10_000
"""Recipients cycle over this many sandbox handsets (valid Swedish mobile numbers); `--handsets`."""
MAX_HANDSETS = 9_000_000  # +46701000000 … +46709999999


def number(i: int, handsets: int = HANDSETS) -> str:
    return f"+4670{1_000_000 + i % handsets}"


@dataclass
class PhaseResult:
    profile: str
    phase: str
    requests: int
    recipients: int
    concurrency: int
    errors: int
    accepted_per_s: float
    accepted_recipients_per_s: float
    p50_ms: float
    p99_ms: float
    delivered: int
    delivered_per_s: float
    handsets_checked: int
    server_cpu_us_per_recipient: float
    accept_only: bool = False  # nothing dispatched: CPU per accepted recipient
    cpu_us_by_process: dict[str, float] = field(default_factory=dict)  # the same, each process's own


async def _get_json(url: str) -> Any:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def _wait_delivered(server: Server, since_ms: int, expected: int, timeout: float) -> tuple[int, int | None]:
    deadline = time.monotonic() + timeout
    while True:
        delivered, pending, newest = await server.delivered(since_ms)
        if delivered >= expected or (pending == 0 and delivered > 0) or time.monotonic() > deadline:
            return delivered, newest
        await asyncio.sleep(0.25)


async def _check_handsets(server: Server, text: Callable[[int], str], samples: list[int], batch_size: int,
                          recipient: Callable[[int], str]) -> int:
    checked = 0
    for i in samples:
        want = text(i)
        messages = await _get_json(f"{server.sandbox_url}/sandbox/v1/handsets/{recipient(i * batch_size)}/messages")
        bodies = {m["body"] for m in messages.get("messages", messages) if isinstance(m, dict)}
        if want not in bodies:
            raise AssertionError(f"handset {recipient(i * batch_size)} did not receive {want!r}")
        checked += 1
    return checked


async def run_phase(server: Server, phase: str, requests: int, batch_size: int, concurrency: int,
                    accept_only: bool = False, body: str = "", first: int = 0,
                    handsets: int = HANDSETS) -> PhaseResult:
    """One phase; its k-th recipient is handset `first + k` (of `handsets`, cycling)."""
    plan = server.creds["service_plan_id"]
    token = server.creds["api_token"]
    path = f"/xms/v1/{plan}/batches"
    tag = f"{phase}-{time.time_ns()}"

    def text(i: int) -> str:  # distinct per request, so no cache spares the server any work
        return f"{tag} {i}" + (f" {body}" if body else "")
    # --accept-only: due in an hour, so nothing is dispatched while the phase runs.
    def recipient(k: int) -> str:
        return number(first + k, handsets)

    later = {"send_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))} if accept_only else {}

    def make(i: int) -> bytes:
        to = [recipient(i * batch_size + j) for j in range(batch_size)]
        payload = json.dumps({"from": "Tidings", "to": to, "body": text(i), **later}).encode()
        return post_json("127.0.0.1", server.port, path, payload, token)

    since_ms = time.time_ns() // 1_000_000
    cpu_before = server.cpu_by_process()
    load = await run_load("127.0.0.1", server.port, requests, concurrency, make)
    ok = load.statuses.get(201, 0)
    expected = ok * batch_size
    if load.first_error is not None:
        status, body = load.first_error
        print(f"{server.profile} {phase}: {requests - ok} requests not accepted, by status "
              f"{dict(sorted(load.statuses.items()))}; the first: {status} {body.decode(errors='replace')}",
              file=sys.stderr, flush=True)

    def cpu_us_each(count: int) -> dict[str, float]:
        return {name: (seconds - cpu_before.get(name, 0.0)) / max(1, count) * 1e6
                for name, seconds in server.cpu_by_process().items()}

    if accept_only:
        by_process = cpu_us_each(expected)
        return PhaseResult(
            profile=server.profile, phase=phase, requests=requests, recipients=requests * batch_size,
            concurrency=concurrency, errors=requests - ok,
            accepted_per_s=ok / load.elapsed, accepted_recipients_per_s=expected / load.elapsed,
            p50_ms=load.percentile(50) * 1000, p99_ms=load.percentile(99) * 1000,
            delivered=0, delivered_per_s=0.0, handsets_checked=0,
            server_cpu_us_per_recipient=sum(by_process.values()), accept_only=True, cpu_us_by_process=by_process,
        )
    delivered, newest = await _wait_delivered(server, since_ms, expected, timeout=60 + expected / 500)
    by_process = cpu_us_each(delivered)
    span = ((newest or since_ms) - since_ms) / 1000
    # Among the newest ~50,000 messages: the sandbox holds the newest 100,000 (handsets.DEFAULT_MAX_HELD).
    back = max(1, 50_000 // batch_size)
    samples = sorted({max(0, requests - back), max(0, requests - back // 2), requests - 1})
    checked = await _check_handsets(server, text, samples, batch_size, recipient) if ok == requests else 0
    return PhaseResult(
        profile=server.profile, phase=phase, requests=requests, recipients=requests * batch_size,
        concurrency=concurrency, errors=requests - ok,
        accepted_per_s=ok / load.elapsed, accepted_recipients_per_s=expected / load.elapsed,
        p50_ms=load.percentile(50) * 1000, p99_ms=load.percentile(99) * 1000,
        delivered=delivered, delivered_per_s=delivered / span if span > 0 else 0.0,
        handsets_checked=checked,
        server_cpu_us_per_recipient=sum(by_process.values()), cpu_us_by_process=by_process,
    )


async def bench_profile(profile: str, args: argparse.Namespace, workdir: Path) -> tuple[list[PhaseResult], dict[str, float]]:
    if profile == "embedded":
        server = await start_embedded(workdir, smsc_outside=args.smsc == "outside")
    else:
        server = await start_distributed(workdir, args.api_workers, args.workers)
    try:
        # Each phase's recipients follow the previous phase's: with enough --handsets, no number
        # is sent to twice in a run (real traffic's many distinct numbers, no cache warm).
        await run_phase(server, "warmup", args.warmup, 1, args.concurrency, args.accept_only, args.body,
                        0, args.handsets)
        first = args.warmup
        results = []
        if args.singles:
            results.append(await run_phase(server, "single", args.singles, 1, args.concurrency, args.accept_only,
                                           args.body, first, args.handsets))
            first += args.singles
        if args.batch_recipients:
            requests = max(1, args.batch_recipients // args.batch_size)
            results.append(await run_phase(server, f"batch{args.batch_size}", requests, args.batch_size,
                                           args.batch_concurrency, args.accept_only, args.body, first,
                                           args.handsets))
        rss = server.peak_rss()
    finally:
        if profile == "embedded":
            await server.stop()
        else:
            await drop_distributed(server)
    return results, rss


def report(results: list[PhaseResult], rss: dict[str, dict[str, float]]) -> str:
    head = (f"{'profile':<12} {'phase':<9} {'requests':>8} {'recips':>7} {'conc':>4} {'err':>4} "
            f"{'req/s':>8} {'recips/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'delivered/s':>11} {'CPU µs/msg':>10}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.profile:<12} {r.phase:<9} {r.requests:>8} {r.recipients:>7} {r.concurrency:>4} {r.errors:>4} "
            f"{r.accepted_per_s:>8.0f} {r.accepted_recipients_per_s:>9.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} "
            f"{r.delivered_per_s:>11.0f} {r.server_cpu_us_per_recipient:>10.0f}"
            + ("  (accept only)" if r.accept_only
               else "" if r.delivered == r.recipients - r.errors else f"  (only {r.delivered} delivered)")
        )
    lines.append("")
    for r in results:
        parts = ", ".join(f"{name} {us:.0f}" for name, us in r.cpu_us_by_process.items())
        lines.append(f"CPU µs/msg {r.profile} {r.phase}: {parts}")
    for profile, procs in rss.items():
        parts = ", ".join(f"{name} {mb:.0f} MB" for name, mb in procs.items())
        lines.append(f"peak RSS {profile}: {parts} (total {sum(procs.values()):.0f} MB)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--singles", type=int, default=10_000, help="single-recipient requests")
    parser.add_argument("--concurrency", type=int, default=64, help="clients for single sends")
    parser.add_argument("--batch-recipients", type=int, default=30_000, help="recipients sent in batches")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=16, help="clients for batch sends")
    parser.add_argument("--warmup", type=int, default=500, help="single sends before measuring")
    parser.add_argument("--api-workers", type=int, default=2, help="distributed: `tidings api --workers`")
    parser.add_argument("--workers", type=int, default=1, help="distributed: `tidings worker` processes")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--smsc", choices=["inside", "outside"], default="inside",
                        help="embedded: the sandbox SMSC inside `tidings serve` (default) or in a "
                             "`tidings sandbox` process of its own (reported as embedded-x)")
    parser.add_argument("--body", default="",
                        help="text after each message's tag and number (default none: a ~25-character "
                             "body); e.g. a notification of the length real traffic has")
    parser.add_argument("--handsets", type=int, default=HANDSETS,
                        help=f"distinct recipients the sends cycle over (default {HANDSETS:,}; at most "
                             f"{MAX_HANDSETS:,}): as many as the run sends makes every recipient new, "
                             "as in real traffic")
    parser.add_argument("--accept-only", action="store_true",
                        help="the accept path alone: every send is due in an hour, so nothing is "
                             "dispatched; CPU µs/msg is then per accepted recipient")
    args = parser.parse_args()
    if not 1 <= args.handsets <= MAX_HANDSETS:
        parser.error(f"--handsets is 1 to {MAX_HANDSETS:,}")

    profiles = ["embedded", "distributed"] if args.profile == "both" else [args.profile]
    results: list[PhaseResult] = []
    rss: dict[str, dict[str, float]] = {}

    async def run() -> None:
        for profile in profiles:
            with tempfile.TemporaryDirectory(prefix=f"tidings-bench-{profile}-") as tmp:
                phase_results, rss[profile] = await bench_profile(profile, args, Path(tmp))
            results.extend(phase_results)
            print(report(phase_results, {profile: rss[profile]}), "\n", flush=True)

    asyncio.run(run())
    if len(profiles) > 1:
        print(report(results, rss))
    if args.json:
        args.json.write_text(json.dumps({"results": [asdict(r) for r in results], "peak_rss_mb": rss,
                                         "median_p99_ms": statistics.median(r.p99_ms for r in results)},
                                        indent=2))
    return 0 if all(r.errors == 0 and (args.accept_only or r.delivered == r.recipients) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
