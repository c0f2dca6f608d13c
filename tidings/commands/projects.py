"""`tidings projects create NAME`: create a project and print its credentials as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json

from tidings.commands import add_data_dir, settings_from
from tidings.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    projects = sub.add_parser("projects", help="manage projects")
    projects_sub = projects.add_subparsers(dest="projects_command", required=True)
    create = projects_sub.add_parser("create", help="create a project and print its credentials")
    create.add_argument("name")
    add_data_dir(create)
    create.set_defaults(run=_run_create)


async def create_project(settings: Settings, name: str) -> dict[str, str]:
    from tidings.actions.projects import do_create_project
    from tidings.runtime.context import now_ms
    from tidings.runtime.database import open_database

    db = await open_database(settings)
    try:
        creds = await do_create_project(db, name, now_ms())
    finally:
        await db.aclose()
    return creds.as_dict()


def _run_create(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(create_project(settings_from(args), args.name)), indent=2))
    return 0
