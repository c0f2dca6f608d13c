"""`tidings projects create NAME`: create a project and print its credentials as JSON (with its
verification application's key and secret); `set-callback` and `set-verification-callback` set
the callback URLs of a service plan and of a verification application; `set-smpp` an SMPP
account's limits (window, throughput, binds at once, the networks it may bind from)."""

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
    plan = projects_sub.add_parser(
        "set-callback", help="set (or with no URL, clear) a service plan's default callback URL")
    plan.add_argument("service_plan_id")
    plan.add_argument("url", nargs="?", default=None)
    add_data_dir(plan)
    plan.set_defaults(run=_run_set_callback)
    verify = projects_sub.add_parser(
        "set-verification-callback",
        help="set (or with no URL, clear) a verification application's callback URL")
    verify.add_argument("application_key")
    verify.add_argument("url", nargs="?", default=None)
    add_data_dir(verify)
    verify.set_defaults(run=_run_set_verification_callback)
    smpp = projects_sub.add_parser(
        "set-smpp", help="change an SMPP account's limits; prints the account's limits as JSON")
    smpp.add_argument("system_id")
    smpp.add_argument("--window", type=int, help="submit_sm in progress at once per bind")
    smpp.add_argument("--throughput", type=int, help="submit_sm per second per bind")
    smpp.add_argument("--max-binds", type=int, help="binds at once, across every gateway process")
    smpp.add_argument("--allowed-networks",
                      help='addresses or CIDR networks binds may come from, e.g. "203.0.113.0/24 2001:db8::/32"; '
                           '"" for anywhere')
    add_data_dir(smpp)
    smpp.set_defaults(run=_run_set_smpp)


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


async def set_callback(settings: Settings, service_plan_id: str, url: str | None) -> bool:
    from sqlalchemy import update

    from tidings.runtime.database import open_database
    from tidings.store.schema import service_plans

    db = await open_database(settings)
    try:
        async with db.write() as conn:
            result = await conn.execute(update(service_plans)
                                        .where(service_plans.c.id == service_plan_id)
                                        .values(callback_url=url))
            return bool(result.rowcount)
    finally:
        await db.aclose()


def _run_set_callback(args: argparse.Namespace) -> int:
    import sys

    url = args.url
    if url is not None and not url.startswith(("http://", "https://")):
        print("tidings: the callback URL must start with http:// or https://", file=sys.stderr)
        return 2
    if not asyncio.run(set_callback(settings_from(args), args.service_plan_id, url)):
        print(f"tidings: no service plan {args.service_plan_id}", file=sys.stderr)
        return 1
    print(json.dumps({"service_plan_id": args.service_plan_id, "callback_url": url}))
    return 0


async def set_verification_callback(settings: Settings, application_key: str, url: str | None) -> bool:
    from tidings.actions.verify_apps import do_configure_app
    from tidings.runtime.database import open_database

    db = await open_database(settings)
    try:
        return await do_configure_app(db, application_key, {"callback_url": url})
    finally:
        await db.aclose()


def _run_set_verification_callback(args: argparse.Namespace) -> int:
    import sys

    url = args.url
    if url is not None and not url.startswith(("http://", "https://")):
        print("tidings: the callback URL must start with http:// or https://", file=sys.stderr)
        return 2
    if not asyncio.run(set_verification_callback(settings_from(args), args.application_key, url)):
        print(f"tidings: no verification application {args.application_key}", file=sys.stderr)
        return 1
    print(json.dumps({"application_key": args.application_key, "callback_url": url}))
    return 0


_SMPP_LIMITS = ("window", "throughput", "max_binds", "allowed_networks")


async def set_smpp(settings: Settings, system_id: str, changes: dict[str, object]) -> dict[str, object] | None:
    """Apply `changes` to an SMPP account; its limits after, or None when there is no such account."""
    from sqlalchemy import select, update

    from tidings.runtime.database import open_database
    from tidings.store.gateway_schema import smpp_accounts

    db = await open_database(settings)
    try:
        async with db.write() as conn:
            if changes:
                await conn.execute(update(smpp_accounts).where(smpp_accounts.c.system_id == system_id)
                                   .values(**changes))
            row = (await conn.execute(select(*(smpp_accounts.c[name] for name in _SMPP_LIMITS))
                                      .where(smpp_accounts.c.system_id == system_id))).first()
    finally:
        await db.aclose()
    return None if row is None else {"system_id": system_id, **row._asdict()}


def _run_set_smpp(args: argparse.Namespace) -> int:
    import sys

    from tidings.gateway.guard import parse_networks

    changes: dict[str, object] = {}
    for name in ("window", "throughput", "max_binds"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                print(f"tidings: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
                return 2
            changes[name] = value
    if args.allowed_networks is not None:
        try:
            networks = parse_networks(args.allowed_networks)
        except ValueError as exc:
            print(f"tidings: --allowed-networks: {exc}", file=sys.stderr)
            return 2
        changes["allowed_networks"] = " ".join(str(n) for n in networks) or None
    limits = asyncio.run(set_smpp(settings_from(args), args.system_id, changes))
    if limits is None:
        print(f"tidings: no SMPP account {args.system_id}", file=sys.stderr)
        return 1
    print(json.dumps(limits))
    return 0
