"""Reading request bodies with a size cap, so a client cannot make a process buffer megabytes
before validation refuses them: the body is read chunk by chunk and abandoned at the cap."""

from __future__ import annotations

from starlette.requests import Request

from tidings.core.errors import RequestError

DEFAULT_LIMIT = 1024 * 1024  # XMS bodies: at most 1,000 recipients and a 2,000-character body


async def read_body(request: Request, limit: int = DEFAULT_LIMIT) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> RequestError:
    return RequestError("request_too_large", f"The request body is larger than {limit} bytes", 413)
