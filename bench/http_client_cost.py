"""CPU per request of the HTTP clients a connector can use, against a loopback server.

    .venv/bin/python bench/http_client_cost.py [--requests 5000] [--concurrency 64]

Starts a minimal Starlette app under uvicorn (uvloop, httptools) in a subprocess, then, for each
client — `httpx.AsyncClient` (httpx's own pool), and Tidings' `HttpClient` (aiohttp underneath,
`tidings/channels/http_client.py`) — sends `--requests` small JSON POSTs from `--concurrency`
concurrent tasks (after as many warm-up requests) and prints requests/s and the client process's
CPU time per request, and the server process's CPU per request over the same requests (what one
HTTP exchange costs the side that answers it: uvicorn and Starlette with an empty handler).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tidings.channels.http_client import HttpClient  # noqa: E402
from tidings.testing.ports import free_port  # noqa: E402

APP = textwrap.dedent("""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def ok(request):
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    app = Starlette(routes=[Route("/x", ok, methods=["POST"])])
""")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(name: str, client: Any, url: str, requests: int, concurrency: int, server_pid: int) -> None:
    async def worker(numbers: Any) -> None:
        for _ in numbers:
            response = await client.post(url, content=b'{"a":1}', headers={"content-type": "application/json"})
            if response.status_code != 200 or response.json() != {"ok": True}:
                raise RuntimeError(f"{name}: unexpected answer {response.status_code}")

    async def run() -> None:
        numbers = iter(range(requests))
        await asyncio.gather(*(worker(numbers) for _ in range(concurrency)))

    await run()  # warm-up: connections open, code paths hot
    cpu0, server0, t0 = cpu_seconds(), process_cpu_seconds(server_pid), time.perf_counter()
    await run()
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    served = process_cpu_seconds(server_pid) - server0
    print(f"{name:28s} {requests / elapsed:9,.0f} req/s   client CPU {cpu / requests * 1e6:7,.0f} µs/request"
          f"   server CPU {served / requests * 1e6:5,.0f} µs/request")


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    workdir = Path(args.workdir)
    (workdir / "bench_http_app.py").write_text(APP)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_http_app:app", "--port", str(port), "--loop", "uvloop",
         "--http", "httptools", "--log-level", "warning", "--no-access-log"], cwd=workdir)
    url = f"http://127.0.0.1:{port}/x"
    try:
        for _ in range(100):
            try:
                async with httpx.AsyncClient() as probe:
                    await probe.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        print(f"{args.requests} POSTs, {args.concurrency} in flight, loopback uvicorn in another process")
        for _ in range(args.rounds):
            async with httpx.AsyncClient(timeout=10.0) as client:
                await measure("httpx.AsyncClient", client, url, args.requests, args.concurrency, server.pid)
            async with HttpClient(timeout=10.0) as lean:
                await measure("tidings HttpClient (aiohttp)", lean, url, args.requests, args.concurrency,
                              server.pid)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    import tempfile

    import uvloop

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parsed = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parsed.workdir = tmp
        uvloop.run(main(parsed))
