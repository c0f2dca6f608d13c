"""`tidings smpp`: the SMPP gateway customers bind to as ESMEs, as its own process (distributed).

    tidings smpp --host 0.0.0.0 --port 2775

Needs TIDINGS_DATABASE_URL and TIDINGS_REDIS_URL like `tidings api`, and a migrated schema. The
embedded profile runs the gateway inside `tidings serve` instead (`--smpp-port`).
"""

from __future__ import annotations

import argparse

DEFAULT_SMPP_PORT = 2775


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    smpp = sub.add_parser("smpp", help="serve the SMPP gateway for customers (distributed: PostgreSQL + Redis)")
    smpp.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    smpp.add_argument("--port", type=int, default=DEFAULT_SMPP_PORT)
    smpp.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from tidings.commands.distributed import _distributed_settings
    from tidings.gateway.service import run_distributed

    settings = _distributed_settings("smpp", argparse.Namespace(host=None, port=None, smpp_port=None))
    if isinstance(settings, int):
        return settings
    return run_distributed(settings, args.host, args.port)
