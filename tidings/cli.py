"""The `tidings` command line. Each command lives in `tidings/commands/<name>.py` and registers
itself with `register(subparsers)`; its handler is stored as the parser's `run` default."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("serve", "projects", "numbers", "distributed", "sandbox", "email", "smpp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings", description="Self-hostable customer communications platform."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"tidings.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
