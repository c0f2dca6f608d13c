"""The distributed profile's commands: `tidings migrate`, `tidings api`, `tidings worker`.

    tidings migrate                    bring TIDINGS_DATABASE_URL to the latest schema
    tidings api --workers 4            uvicorn worker processes serving the API
    tidings worker                     dispatch, receipt and webhook workers

`api` and `worker` need TIDINGS_DATABASE_URL (PostgreSQL) and TIDINGS_REDIS_URL, and refuse to
start on a database that is not at the schema this release expects (run `tidings migrate`
first): a missing column is better reported here than as a failed request later. The wiring
itself lives in `tidings.runtime.distributed`, imported only when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.exc import SQLAlchemyError

from tidings.commands import settings_from
from tidings.config import Settings

__all__ = ["register", "check_schema", "missing_settings"]

EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument(
        "--database-url", default=None,
        help="database to migrate (default: TIDINGS_DATABASE_URL), e.g. "
        "postgresql+asyncpg://user@host/tidings or sqlite+aiosqlite:///./.tidings/tidings.db",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(run=_run_migrate)

    api = sub.add_parser("api", help="serve the API (distributed: PostgreSQL + Redis)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.set_defaults(run=_run_api)

    worker = sub.add_parser("worker", help="run dispatch, receipt and webhook workers (distributed)")
    worker.add_argument("--metrics-port", type=int, default=None,
                        help="serve this worker's Prometheus /metrics on 127.0.0.1:PORT")
    worker.add_argument("--metrics-host", default="127.0.0.1")
    worker.set_defaults(run=_run_worker)


def _fail(message: str) -> int:
    print(f"tidings: {message}", file=sys.stderr)
    return EXIT_USAGE


def missing_settings(settings: Settings) -> list[str]:
    """The environment variables the distributed profile needs and does not have."""
    missing = []
    if not settings.database_url:
        missing.append("TIDINGS_DATABASE_URL (e.g. postgresql+asyncpg://tidings@db-host/tidings)")
    if not settings.redis_url:
        missing.append("TIDINGS_REDIS_URL (e.g. redis://redis-host:6379/0)")
    return missing


def check_schema(database_url: str) -> str | None:
    """None when the database is at the head revision, else what is wrong."""
    from tidings.store.migrate import current_revision, head_revision

    try:
        current = asyncio.run(current_revision(database_url))
    except (OSError, SQLAlchemyError) as exc:
        return f"cannot read the schema version from TIDINGS_DATABASE_URL: {exc}"
    head = head_revision()
    if current != head:
        return (
            f"the database schema is at revision {current or '(none)'}, this release needs "
            f"{head}: run `tidings migrate` first"
        )
    return None


def _distributed_settings(command: str, args: argparse.Namespace) -> Settings | int:
    settings = settings_from(args)
    missing = missing_settings(settings)
    if missing:
        return _fail(f"`tidings {command}` runs the distributed profile and needs " + " and ".join(missing))
    assert settings.database_url is not None
    problem = check_schema(settings.database_url)
    if problem:
        return _fail(problem)
    return settings


def _run_migrate(args: argparse.Namespace) -> int:
    from tidings.store.migrate import MigrationError, current_revision, upgrade

    url = args.database_url or Settings.from_env().database_url
    if not url:
        return _fail(
            "`tidings migrate` needs TIDINGS_DATABASE_URL or --database-url "
            "(for the embedded profile: sqlite+aiosqlite:///./.tidings/tidings.db)"
        )

    async def migrate() -> str | None:
        await upgrade(url, args.revision)
        return await current_revision(url)

    try:
        revision = asyncio.run(migrate())
    except MigrationError as exc:
        return _fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:
        return _fail(f"migration failed: {exc}")
    print(f"database at revision {revision}")
    return 0


def _run_api(args: argparse.Namespace) -> int:
    settings = _distributed_settings("api", args)
    if isinstance(settings, int):
        return settings
    if args.workers < 1:
        return _fail("--workers must be at least 1")
    from tidings.runtime.distributed import run_api

    return int(run_api(settings, args.host, args.port, workers=args.workers) or 0)


def _run_worker(args: argparse.Namespace) -> int:
    settings = _distributed_settings("worker", args)
    if isinstance(settings, int):
        return settings
    from tidings.runtime.distributed import run_worker

    if args.metrics_port is not None:
        from prometheus_client import start_http_server

        from tidings.observability.metrics import REGISTRY

        start_http_server(args.metrics_port, addr=args.metrics_host, registry=REGISTRY)
    return int(run_worker(settings) or 0)
