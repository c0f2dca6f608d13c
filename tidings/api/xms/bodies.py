"""Reading the JSON body of an XMS request (batches, dry runs, delivery feedback, groups).

A body is JSON, declared so: XMS answers a `Content-Type` that is missing or not JSON with 415
Unsupported Media Type (the Sinch SDK always sends `application/json`). Invalid JSON is a 400
`syntax_invalid_json`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from tidings.api.body import read_body
from tidings.core.errors import RequestError

__all__ = ["UNSUPPORTED_MEDIA_TYPE", "json_body"]

UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


async def json_body(request: Request, *, empty: Any = None) -> Any:
    """The decoded body; a missing (or blank) one is `empty` when that is given (a group created
    without fields), else a 400."""
    raw = await read_body(request)
    if not raw.strip():
        if empty is not None:
            return empty
        raise RequestError("syntax_invalid_json", "The request body must be a JSON object", 400)
    _check_content_type(request.headers.get("content-type"))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError("syntax_invalid_json", f"Invalid JSON: {exc}", 400) from None


def _check_content_type(header: str | None) -> None:
    """`application/json` (or another `+json` type), with any parameters (`charset=UTF-8`)."""
    media = (header or "").partition(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    shown = repr(media) if media else "missing"
    raise RequestError(UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be application/json, not {shown}", 415)
