"""`POST /oauth2/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4), as Sinch's auth
server answers it. Errors here are OAuth2-shaped (`error`, `error_description`), not XMS."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.actions import auth as auth_actions
from tidings.api.responses import json_response
from tidings.core.errors import AuthError
from tidings.runtime.context import Context


def _oauth_error(error: str, description: str, status: int) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="oauth2"'} if status == 401 else None
    headers = {**(headers or {}), "Cache-Control": "no-store"}
    return json_response({"error": error, "error_description": description}, status, headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key_id, sep, secret = decoded.partition(":")
    return (key_id, secret) if sep else None


def routes(ctx: Context) -> list[Route]:
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        credentials = _basic_credentials(request)
        if credentials is None and "client_id" in form:
            credentials = (form["client_id"][0], form.get("client_secret", [""])[0])
        if credentials is None:
            return _oauth_error("invalid_client", "HTTP Basic client credentials required", 401)
        if form.get("grant_type", [""])[0] != "client_credentials":
            return _oauth_error("unsupported_grant_type", "grant_type must be client_credentials", 400)
        try:
            project_id = await auth_actions.check_client_credentials(ctx.db, *credentials)
        except AuthError as exc:
            return _oauth_error("invalid_client", exc.text, 401)
        now = ctx.clock()
        key = await auth_actions.server_key(ctx.db, now)
        issued = auth_actions.issue_token(key, project_id, now, ctx.settings.token_ttl_seconds)
        return json_response(issued.as_dict(), 200, {"Cache-Control": "no-store"})

    return [Route("/oauth2/token", token, methods=["POST"])]


__all__ = ["routes"]
