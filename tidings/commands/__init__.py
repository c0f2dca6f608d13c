"""One module per `tidings` sub-command."""

from __future__ import annotations

import argparse
import os

from tidings.config import Settings


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=os.environ.get("TIDINGS_DATA_DIR", "./.tidings"),
        help="where the embedded profile keeps its SQLite database (default ./.tidings)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("data_dir", "host", "port", "smpp_port")}
    return Settings.from_env(**overrides)
