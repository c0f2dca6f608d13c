"""`tidings sandbox`: the sandbox carrier network on its own — SMPP SMSC plus its REST API.

    tidings sandbox --smpp-port 2775 --port 8090 --system-id tidings --password sandbox [--data-dir DIR]

The embedded profile runs the sandbox inside `tidings serve`; the distributed profile has no
process of its own for it, so `tidings worker` processes bind to this one (point
TIDINGS_SMPP_CONNECTIONS at its SMPP port) and tests or benchmarks read the handsets through
`GET /sandbox/v1/handsets/{number}/messages` on its HTTP port.

Without `--data-dir` it lives in memory only. With one, a graceful stop (SIGTERM, Ctrl-C) saves
its handsets, rules and what it still owes (deliveries waiting out their latency, receipts and MO
no ESME took) in `DIR/sandbox/state.json` and the next start takes them back; one process per
data directory.
"""

from __future__ import annotations

import argparse
import socket
import sys

from tidings.config import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="run the sandbox SMSC and its REST API on their own")
    sandbox.add_argument("--host", default="127.0.0.1", help="address both servers bind to")
    sandbox.add_argument("--smpp-port", type=int, default=2775, help="SMPP port (0: any free port)")
    sandbox.add_argument("--port", type=int, default=8090, help="HTTP port of /sandbox/v1")
    sandbox.add_argument("--system-id", default=SANDBOX_SYSTEM_ID, help="ESME account allowed to bind")
    sandbox.add_argument("--password", default=SANDBOX_PASSWORD)
    sandbox.add_argument("--seed", type=int, default=None, help="seed for latency and failure draws")
    sandbox.add_argument("--data-dir", default=None,
                         help="keep the sandbox's state here across graceful restarts (default: memory only)")
    sandbox.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn
    import uvloop
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tidings.observability.logging import configure
    from tidings.runtime.http_server import InLoopServer, shut_down_on_signals
    from tidings.runtime.startup import (
        DataDirError,
        DataDirInUse,
        DataDirLock,
        ListenError,
        listening_for,
        listening_socket,
    )
    from tidings.sandbox.world import Sandbox

    configure()

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def main(api_socket: socket.socket) -> None:
        sandbox = Sandbox(seed=args.seed, data_dir=args.data_dir)
        sandbox.add_account(args.system_id, args.password)
        try:
            with listening_for("sandbox SMSC", args.host, args.smpp_port, "--smpp-port"):
                await sandbox.start(host=args.host, port=args.smpp_port)
            app = Starlette(routes=[Route("/health", health, methods=["GET"]), *sandbox.routes()])
            print(f"sandbox SMSC on {args.host}:{sandbox.port} (system_id {args.system_id}), "
                  f"REST API on http://{args.host}:{args.port}/sandbox/v1", flush=True)
            config = uvicorn.Config(app, host=args.host, port=args.port, loop="none", http="httptools",
                                    log_level="warning", lifespan="off", access_log=False)
            server = InLoopServer(config)  # cancels requests still running DEFAULT_SHUTDOWN_GRACE_SECONDS in
            with shut_down_on_signals(server):  # then the `finally` closes the SMPP sessions
                await server.serve(sockets=[api_socket])
        finally:
            await sandbox.stop()

    lock = DataDirLock(args.data_dir) if args.data_dir is not None else None
    try:
        if lock is not None:
            lock.acquire()
        api_socket = listening_socket(args.host, args.port, "sandbox REST API")
        try:
            uvloop.run(main(api_socket))
        finally:
            api_socket.close()
    except DataDirInUse:
        print(f"tidings sandbox: the data directory {args.data_dir} is in use by another process; "
              "give this sandbox a data directory of its own with --data-dir", file=sys.stderr, flush=True)
        return 1
    except (DataDirError, ListenError) as exc:
        print(f"tidings sandbox: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if lock is not None:
            lock.release()
    return 0
