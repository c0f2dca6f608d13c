"""XMS batches: send, get, list, cancel, replace, update and dry_run."""

from __future__ import annotations

from starlette.routing import Route

from tidings.runtime.context import Context


def routes(ctx: Context) -> list[Route]:
    return []
