"""HttpClient against real loopback servers: what it sends, what it returns, and which httpx
error each failure becomes (connectors decide "retry" vs "maybe sent" on those)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tidings.channels.http_client import HttpClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].encode(), headers, body


def answer(status: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_sends_method_params_headers_and_body_and_reads_the_answer(serve) -> None:
    seen: list[tuple[bytes, dict[str, str], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(answer("201 Created", '{"ok": true, "n": "é"}'.encode(), extra="Retry-After: 7\r\n"))
            await writer.drain()
        writer.close()

    base = await serve(handler)
    async with HttpClient(timeout=2.0) as http:
        response = await http.post(f"{base}/v1/phones/+46701234567/agentMessages",
                                   params={"messageId": "m 1", "agentId": "a@b"},
                                   headers={"Authorization": "Bearer t"}, json={"text": "hej"})
        second = await http.request("DELETE", f"{base}/x", content=b"raw")
    assert response.status_code == 201 and response.is_success
    assert response.json() == {"ok": True, "n": "é"}
    assert response.text == '{"ok": true, "n": "é"}'
    assert response.headers.get("retry-after") == "7" and response.headers["RETRY-AFTER"] == "7"
    line, headers, body = seen[0]
    assert line.startswith(b"POST /v1/phones/+46701234567/agentMessages?messageId=m+1&agentId=a@b ")
    assert headers["authorization"] == "Bearer t"
    assert headers["content-type"] == "application/json"
    assert body == b'{"text":"hej"}'
    assert seen[1][0].startswith(b"DELETE /x ") and seen[1][2] == b"raw"
    assert second.status_code == 201


async def test_text_uses_the_declared_charset(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer("200 OK", "grüß".encode("latin-1"), content_type="text/plain; charset=ISO-8859-1"))
        await writer.drain()
        writer.close()

    async with HttpClient() as http:
        response = await http.get(await serve(handler))
    assert response.text == "grüß"


async def test_redirects_are_returned_not_followed(serve) -> None:
    hits: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, _, _ = await read_request(reader)
        hits.append(line)
        writer.write(answer("302 Found", b"", extra="Location: /elsewhere\r\n"))
        await writer.drain()
        writer.close()

    async with HttpClient() as http:
        response = await http.post(await serve(handler), content=b"x")
    assert response.status_code == 302 and len(hits) == 1
    assert response.raise_for_status() is response


async def test_raise_for_status_on_errors(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer("503 Service Unavailable", b"{}"))
        await writer.drain()
        writer.close()

    async with HttpClient() as http:
        response = await http.get(await serve(handler))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    assert caught.value.response is response and "503" in str(caught.value)


async def test_refused_connection_is_a_connect_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with HttpClient(timeout=2.0) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/", content=b"x")


async def test_no_answer_in_time_is_a_read_timeout(serve) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    base = await serve(handler)
    async with HttpClient(timeout=5.0) as http:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.post(base, content=b"x", timeout=0.3)
    release.set()
    assert isinstance(caught.value, httpx.TimeoutException)


async def test_connection_dropped_after_the_request_is_a_read_error(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async with HttpClient(timeout=2.0) as http:
        with pytest.raises(httpx.ReadError) as caught:
            await http.post(await serve(handler), content=b"x")
    assert isinstance(caught.value, httpx.TransportError)


async def test_bad_urls_are_httpx_errors_raised_before_sending() -> None:
    async with HttpClient() as http:
        with pytest.raises(httpx.InvalidURL):
            await http.get("http://")
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/file")


async def test_proxy_from_the_environment_unless_no_proxy(serve, monkeypatch) -> None:
    proxied: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, _, _ = await read_request(reader)
        proxied.append(line)
        writer.write(answer("200 OK", b'{"via": "proxy"}'))
        await writer.drain()
        writer.close()

    async def direct(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer("200 OK", b'{"via": "direct"}'))
        await writer.drain()
        writer.close()

    proxy_url, direct_url = await serve(proxy), await serve(direct)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    async with HttpClient(timeout=2.0) as http:
        assert (await http.get(f"{direct_url}/a")).json() == {"via": "proxy"}
    assert proxied and proxied[0].startswith(f"GET {direct_url}/a ".encode())  # absolute-form target

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with HttpClient(timeout=2.0) as http:
        assert (await http.get(f"{direct_url}/a")).json() == {"via": "direct"}
