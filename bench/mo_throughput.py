"""Replies from handsets, end to end: sandbox handset → SMSC → deliver_sm over SMPP → stored inbound.

    .venv/bin/python bench/mo_throughput.py                       # both profiles
    .venv/bin/python bench/mo_throughput.py --profile embedded --replies 5000

Starts Tidings as real processes (bench/servers.py), as bench/sms_throughput.py does, then for
each phase has `--replies` handsets reply through the sandbox REST API
(`POST /sandbox/v1/handsets/{number}/messages`, `--concurrency` keep-alive clients): short
replies (one deliver_sm each), then long ones (three parts each, which the SMSC spreads over
every bound session and Tidings stores part by part until the message is whole). Per phase it
prints the replies the sandbox accepted per second, the inbound messages stored per second (from
the first request to the moment the database holds them all) and the server processes' CPU per
reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import post_json, run_load  # noqa: E402
from servers import Server, drop_distributed, start_distributed, start_embedded  # noqa: E402

OURS = "+46700000000"
LONG = "Yes, that works for me. Please book the Tuesday slot at ten and send the address by text. " * 4


def handset(i: int) -> str:
    return f"4670{2_000_000 + i}"


async def phase(server: Server, name: str, body: str, replies: int, concurrency: int) -> str:
    host_port = server.sandbox_url.removeprefix("http://")
    host, _, port = host_port.partition(":")

    def make(i: int) -> bytes:
        payload = json.dumps({"to": OURS, "body": f"{i} {body}"}).encode()
        return post_json(host, int(port), f"/sandbox/v1/handsets/{handset(i)}/messages", payload, "")

    since_ms = time.time_ns() // 1_000_000
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    load = await run_load(host, int(port), replies, concurrency, make)
    accepted = load.statuses.get(202, 0)
    deadline = time.monotonic() + 60 + replies / 100
    stored = 0
    while time.monotonic() < deadline:
        stored = await server.inbound_count(since_ms)
        if stored >= accepted:
            break
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    return (f"{server.profile:<12} {name:<6} {replies:>7} {accepted / load.elapsed:>10.0f} {stored:>7} "
            f"{stored / elapsed:>9.0f} {cpu / max(1, stored) * 1e6:>10.0f}")


async def bench(profile: str, args: argparse.Namespace) -> list[str]:
    with tempfile.TemporaryDirectory(prefix=f"tidings-mo-{profile}-") as tmp:
        if profile == "embedded":
            server = await start_embedded(Path(tmp))
        else:
            server = await start_distributed(Path(tmp), args.api_workers, args.workers)
        try:
            await phase(server, "warmup", "warm", 200, args.concurrency)
            return [await phase(server, "short", "Yes please", args.replies, args.concurrency),
                    await phase(server, "long", LONG, args.replies, args.concurrency)]
        finally:
            if profile == "embedded":
                await server.stop()
            else:
                await drop_distributed(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--replies", type=int, default=3000, help="replies per phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--api-workers", type=int, default=1, help="distributed: `tidings api --workers`")
    parser.add_argument("--workers", type=int, default=2, help="distributed: `tidings worker` processes")
    args = parser.parse_args()
    profiles = ["embedded", "distributed"] if args.profile == "both" else [args.profile]
    print(f"{'profile':<12} {'phase':<6} {'replies':>7} {'sent/s':>10} {'stored':>7} {'stored/s':>9} {'CPU µs/msg':>10}")
    ok = True
    for profile in profiles:
        for line in asyncio.run(bench(profile, args)):
            print(line, flush=True)
            ok = ok and int(line.split()[4]) == args.replies
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
