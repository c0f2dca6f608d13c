"""`tidings numbers assign NUMBER SERVICE_PLAN_ID [--move]`, `release NUMBER`, `list [--project
ID]`: the numbers (long numbers in E.164, short codes) a project receives MO on
(`tidings.actions.numbers`). Each prints JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tidings.commands import add_data_dir, settings_from
from tidings.config import Settings
from tidings.core.errors import RequestError

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("numbers", help="the numbers projects receive messages on")
    numbers_sub = parser.add_subparsers(dest="numbers_command", required=True)
    assign = numbers_sub.add_parser("assign", help="route MO to NUMBER to a service plan's project")
    assign.add_argument("number", help="an E.164 number (+46700000000) or a short code (3–8 digits)")
    assign.add_argument("service_plan_id")
    assign.add_argument("--move", action="store_true", help="take the number from the project that has it")
    add_data_dir(assign)
    assign.set_defaults(run=_run_assign)
    release = numbers_sub.add_parser("release", help="take a number from its project")
    release.add_argument("number")
    add_data_dir(release)
    release.set_defaults(run=_run_release)
    listing = numbers_sub.add_parser("list", help="the assigned numbers, as a JSON array")
    listing.add_argument("--project", help="only this project's")
    add_data_dir(listing)
    listing.set_defaults(run=_run_list)


def _with_db(settings: Settings, work: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
    from tidings.runtime.database import open_database

    async def run() -> T:
        db = await open_database(settings)
        try:
            return await work(db, *args, **kwargs)
        finally:
            await db.aclose()

    return asyncio.run(run())


def _refused(exc: RequestError) -> int:
    print(f"tidings: {exc.text}", file=sys.stderr)
    return 1 if exc.http_status in (404, 409) else 2


def _run_assign(args: argparse.Namespace) -> int:
    from tidings.actions.numbers import do_assign_number

    try:
        assigned = _with_db(settings_from(args), do_assign_number, args.number, args.service_plan_id,
                            move=args.move)
    except RequestError as exc:
        return _refused(exc)
    print(json.dumps(assigned.as_dict()))
    return 0


def _run_release(args: argparse.Namespace) -> int:
    from tidings.actions.numbers import do_release_number

    try:
        released = _with_db(settings_from(args), do_release_number, args.number)
    except RequestError as exc:
        return _refused(exc)
    if not released:
        print(f"tidings: {args.number} is not assigned", file=sys.stderr)
        return 1
    print(json.dumps({"number": args.number, "released": True}))
    return 0


def _run_list(args: argparse.Namespace) -> int:
    from tidings.actions.numbers import list_numbers

    found = _with_db(settings_from(args), list_numbers, args.project)
    print(json.dumps([n.as_dict() for n in found]))
    return 0
