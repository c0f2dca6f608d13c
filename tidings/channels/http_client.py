"""The HTTP client for platform calls: connectors to RBM, Telegram, Viber, Graph…, and the
sandbox twins' callbacks to Tidings.

A small subset of `httpx.AsyncClient`'s interface (`request`/`get`/`post`/`put`/`delete`,
`aclose`; responses with `status_code`, `headers`, `content`, `text`, `json()`), on aiohttp's
client, raising httpx's exception classes — so a connector takes either client, and the code that
catches `httpx.TimeoutException` or `httpx.HTTPError` stays as it is.

Why not httpx itself on this path: per request it spends about ten times the CPU of aiohttp's
client when many requests are in flight (`bench/http_client_cost.py`: 64 concurrent POSTs to a
loopback server, ~1,140 µs of client CPU per request with httpx 0.28 — its connection pool checks
every idle connection's socket on each request — against ~90 µs here), and every conversation
message makes two to four such calls. The `httpx-aiohttp` transport keeps httpx's request and
response models (~300 µs) and reports a dropped connection as a connect timeout, which a
connector would take as "not sent"; hence this adapter, which maps aiohttp's errors to the httpx
error a connector must see: failures before the request went out as `ConnectError` /
`ConnectTimeout`, failures after as `ReadError` / `ReadTimeout`.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson

__all__ = ["HttpClient", "HttpResponse", "PlatformHttp", "PlatformResponse"]

# An idle pooled connection is dropped before common servers close theirs (uvicorn: 5 s), so a
# request is not written into a connection the server is closing at that moment.
KEEPALIVE_SECONDS = 4.0


class HttpResponse:
    """A complete response (the body is read before the request returns)."""

    __slots__ = ("content", "headers", "status_code", "url")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes, url: str) -> None:
        self.status_code = status_code
        self.headers = headers  # aiohttp's CIMultiDictProxy: case-insensitive, like httpx.Headers
        self.content = content
        self.url = url

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def raise_for_status(self) -> HttpResponse:
        """httpx.HTTPStatusError on a 4xx or 5xx answer, as httpx's response does."""
        if self.status_code >= 400:
            kind = "Client" if self.status_code < 500 else "Server"
            raise httpx.HTTPStatusError(f"{kind} error '{self.status_code}' for url '{self.url}'",
                                        request=None, response=self)  # type: ignore[arg-type]
        return self

    def __repr__(self) -> str:
        return f"<HttpResponse [{self.status_code}]>"


class HttpClient:
    """A pooled keep-alive client; one per worker or twin, closed with it.

    `timeout` (seconds) bounds connecting and each wait for response bytes, as a float timeout
    does in httpx; a request can pass its own. Proxies come from the environment
    (`HTTPS_PROXY`, `NO_PROXY`…), as with httpx, read once: aiohttp's own `trust_env` reads
    them again on every request (~250 µs each)."""

    def __init__(self, *, timeout: float = 10.0, max_connections: int = 100) -> None:
        self.timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._proxies = urllib.request.getproxies_environment()
        self._proxy_by_origin: dict[tuple[str, str], str | None] = {}

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  auto_decompress=True, raise_for_status=False)
        return self._session

    def _proxy(self, url: str) -> str | None:
        if not self._proxies:
            return None
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxy_by_origin:
            proxy = self._proxies.get(parts.scheme)
            # proxy_bypass_environment is in every CPython's urllib.request but not in typeshed's stubs.
            bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
            if proxy is not None and bypass(parts.netloc, self._proxies):
                proxy = None
            self._proxy_by_origin[origin] = proxy
        return self._proxy_by_origin[origin]

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        seconds = self.timeout if seconds is None else seconds
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(
                total=None, connect=seconds, sock_connect=seconds, sock_read=seconds)
        return timeout

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, content: bytes | None = None,
                      json: Any = None, timeout: float | None = None) -> HttpResponse:
        send_headers = dict(headers) if headers else {}
        if json is not None:
            content = orjson.dumps(json)
            send_headers.setdefault("Content-Type", "application/json")
        try:
            async with self._client().request(
                    method, url, params=params, headers=send_headers, data=content,
                    allow_redirects=False, timeout=self._timeout(timeout),
                    proxy=self._proxy(url)) as response:
                body = await response.read()
                return HttpResponse(response.status, response.headers, body, str(response.url))
        except aiohttp.InvalidURL as exc:
            raise httpx.InvalidURL(str(exc)) from exc
        except aiohttp.NonHttpUrlClientError as exc:
            raise httpx.UnsupportedProtocol(f"{method} {url}: not an http(s) URL") from exc
        # Before anything was sent: no connection, or none in time.
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"{method} {url}: {exc}") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(f"{method} {url}: timed out connecting") from exc
        # After: the platform may have acted on the request.
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"{method} {url}: timed out") from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{method} {url}: {exc!r}") from exc

    async def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
            await asyncio.sleep(0)  # lets the connector's transports close (aiohttp's advice)

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


# What a connector or twin accepts as its HTTP client: this one, or httpx's (tests hand
# connectors an httpx client on an ASGI or mock transport).
PlatformHttp = httpx.AsyncClient | HttpClient
PlatformResponse = httpx.Response | HttpResponse
