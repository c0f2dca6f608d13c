"""`tidings serve`: the embedded profile — API, workers and sandbox in one process."""

from __future__ import annotations

import argparse

from tidings.commands import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run API, workers and sandbox in one process (embedded)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="API port (default 8080; 0: any free port)")
    serve.add_argument("--smpp-port", type=int, default=2775,
                       help="SMPP port customers bind to as ESMEs (default 2775; 0: any free port)")
    add_data_dir(serve)
    serve.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from tidings.runtime.embedded import serve

    return serve(settings_from(args))
