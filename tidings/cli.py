"""The `tidings` command line: serve (embedded), api / worker / migrate (distributed), projects."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from tidings.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("data_dir", "host", "port")}
    return Settings.from_env(**overrides)


async def _create_project(settings: Settings, name: str) -> dict[str, str]:
    from tidings.actions.projects import do_create_project
    from tidings.runtime.context import now_ms
    from tidings.runtime.database import open_database

    db = await open_database(settings)
    try:
        creds = await do_create_project(db, name, now_ms())
    finally:
        await db.aclose()
    return creds.as_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tidings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run API, workers and sandbox in one process (embedded)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", default=os.environ.get("TIDINGS_DATA_DIR", "./.tidings"))

    projects = sub.add_parser("projects", help="manage projects")
    projects_sub = projects.add_subparsers(dest="projects_command", required=True)
    create = projects_sub.add_parser("create", help="create a project and print its credentials")
    create.add_argument("name")
    create.add_argument("--data-dir", default=os.environ.get("TIDINGS_DATA_DIR", "./.tidings"))

    args = parser.parse_args(argv)
    settings = _settings(args)
    if args.command == "projects" and args.projects_command == "create":
        print(json.dumps(asyncio.run(_create_project(settings, args.name)), indent=2))
        return 0
    if args.command == "serve":
        from tidings.runtime.embedded import serve

        return serve(settings)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
