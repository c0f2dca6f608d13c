"""Conversation API routes beyond `routes.py`'s reads and contact/app/message writes:

    POST   /conversations                       create (`conversations/conversation_writes.py`)
    PATCH  /conversations/{id}                  update (update_mask, metadata_update_strategy)
    POST   /conversations/{id}:stop             stop
    DELETE /conversations/{id}                  delete, with its messages
    POST   /events:send                         app events (`conversations/app_events.py`)
    POST   /messages:fetch-last-message         last message per identity (`conversations/last_messages.py`)

Same authentication and error format as `routes.py`, which mounts them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.responses import json_response
from tidings.conversations import app_events, conversation_writes, last_messages

__all__ = ["lifecycle_routes"]

Auth = Callable[[Request], Awaitable[tuple[Any, str]]]
Body = Callable[[Request], Awaitable[Any]]
Mask = Callable[[Request], "list[str] | None"]


def lifecycle_routes(auth: Auth, body: Body, mask: Mask) -> list[Route]:
    """The routes, given `routes.py`'s authentication, body parser and update_mask reader."""

    async def create_conversation(request: Request) -> Response:
        ctx, project_id = await auth(request)
        return json_response(await conversation_writes.do_create_conversation(ctx, project_id, await body(request)))

    async def update_conversation(request: Request) -> Response:
        ctx, project_id = await auth(request)
        return json_response(await conversation_writes.do_update_conversation(
            ctx, project_id, request.path_params["conversation_id"], await body(request), mask(request),
            request.query_params.get("metadata_update_strategy")))

    async def stop_conversation(request: Request) -> Response:
        ctx, project_id = await auth(request)
        await conversation_writes.do_stop_conversation(ctx, project_id, request.path_params["conversation_id"])
        return json_response({})

    async def delete_conversation(request: Request) -> Response:
        ctx, project_id = await auth(request)
        await conversation_writes.do_delete_conversation(ctx, project_id, request.path_params["conversation_id"])
        return json_response({})

    async def send_event(request: Request) -> Response:
        ctx, project_id = await auth(request)
        return json_response(await app_events.do_send_event(ctx, project_id, await body(request)))

    async def fetch_last_message(request: Request) -> Response:
        ctx, project_id = await auth(request)
        payload = await body(request)
        async with ctx.db.read() as conn:
            return json_response(await last_messages.fetch_last_messages(conn, project_id, payload))

    return [
        Route("/conversations", create_conversation, methods=["POST"]),
        Route("/conversations/{conversation_id}:stop", stop_conversation, methods=["POST"]),
        Route("/conversations/{conversation_id}", update_conversation, methods=["PATCH"]),
        Route("/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
        Route("/events:send", send_event, methods=["POST"]),
        Route("/messages:fetch-last-message", fetch_last_message, methods=["POST"]),
    ]
