"""Bad input changes nothing, in both profiles: every malformed, mistyped, oversized or invalid
request is answered with an XMS error (`{"code", "text"}`, 4xx) and no row is written."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tidings.testing.platform import Platform

from .faults_support import row_counts, status_counts

GOOD = {"from": "+46700000000", "to": ["+46701234521"], "body": "hello"}
MB = 1024 * 1024


def _bad_sends() -> list[tuple[str, bytes]]:
    def js(value: Any) -> bytes:
        return orjson.dumps(value)

    return [
        ("empty", b""),
        ("not json", b"{nope"),
        ("truncated", js(GOOD)[:-5]),
        ("array", js([GOOD])),
        ("null", b"null"),
        ("string", b'"hello"'),
        ("invalid utf-8", b'{"to": ["+46701234521"], "body": "\xff\xfe", "from": "+46700000000"}'),
        ("nested deep", b"[" * 5000 + b"]" * 5000),
        ("to is a string", js({**GOOD, "to": "+46701234521"})),
        ("to has a number", js({**GOOD, "to": [46701234521]})),
        ("to is empty", js({**GOOD, "to": []})),
        ("to is null", js({**GOOD, "to": None})),
        ("body is a number", js({**GOOD, "body": 42})),
        ("body is an object", js({**GOOD, "body": {"text": "hi"}})),
        ("from is a list", js({**GOOD, "from": ["+46700000000"]})),
        ("unknown field", js({**GOOD, "colour": "red"})),
        ("unknown type", js({**GOOD, "type": "mt_hologram"})),
        ("bad delivery_report", js({**GOOD, "delivery_report": "sometimes"})),
        ("bad send_at", js({**GOOD, "send_at": "tomorrow"})),
        ("bad expire_at", js({**GOOD, "expire_at": 12345})),
        ("flash is a string", js({**GOOD, "flash_message": "yes"})),
        ("parameters is a list", js({**GOOD, "parameters": ["x"]})),
        ("bad callback_url", js({**GOOD, "callback_url": 7})),
        ("letters for a number", js({**GOOD, "to": ["hello"]})),
        ("too short a number", js({**GOOD, "to": ["+1"]})),
        ("too long a number", js({**GOOD, "to": ["+4670123452199999999"]})),
        ("one bad among good", js({**GOOD, "to": ["+46701234521", "+46701234522", "not a number"]})),
        ("too many recipients", js({**GOOD, "to": [f"+4670123{i:04d}" for i in range(1001)]})),
        ("huge body text", js({**GOOD, "body": "x" * (4 * MB)})),
        ("huge junk", b"{" + b"x" * (4 * MB)),
        ("huge recipient list", js({**GOOD, "to": ["+46701234521"] * 200_000})),
    ]


def _assert_xms_error(name: str, response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text[:200]}"
    body = response.json()
    assert set(body) == {"code", "text"}, f"{name}: {body}"
    assert isinstance(body["code"], str) and body["code"], name
    assert isinstance(body["text"], str), name


async def test_bad_sends_are_xms_errors_and_write_nothing(platform: Platform, http: httpx.AsyncClient) -> None:
    before = await row_counts(platform.ctx.db)
    headers = {**platform.auth, "content-type": "application/json"}
    for name, content in _bad_sends():
        response = await http.post(platform.xms("/batches"), content=content, headers=headers)
        _assert_xms_error(name, response)
    unauthenticated = await http.post(platform.xms("/batches"), json=GOOD)
    _assert_xms_error("no token", unauthenticated)
    assert unauthenticated.status_code == 401
    assert await row_counts(platform.ctx.db) == before

    # The API is still whole: a good request goes through.
    batch = await platform.send(http, **GOOD)
    after = await row_counts(platform.ctx.db)
    assert (after["batches"], after["deliveries"]) == (before["batches"] + 1, before["deliveries"] + 1)
    assert batch["to"] == GOOD["to"]


async def test_bad_updates_leave_a_batch_as_it_was(platform: Platform, http: httpx.AsyncClient) -> None:
    """A scheduled batch (so nothing moves under the test) survives bad replaces and updates."""
    batch = await platform.send(http, **GOOD, send_at="2099-01-01T00:00:00Z")
    before = await row_counts(platform.ctx.db)
    statuses = await status_counts(platform.ctx.db)
    url = platform.xms(f"/batches/{batch['id']}")
    headers = {**platform.auth, "content-type": "application/json"}
    bad = [
        ("PUT", "replace with a bad number", orjson.dumps({**GOOD, "to": ["+46701234521", "nope"]})),
        ("PUT", "replace with no body", orjson.dumps({"from": "+46700000000", "to": ["+46701234521"]})),
        ("PUT", "replace with junk", b"{nope"),
        ("POST", "update adding a bad number", orjson.dumps({"to_add": ["nope"]})),
        ("POST", "update with a mistyped body", orjson.dumps({"body": ["x"]})),
        ("POST", "update with too many", orjson.dumps({"to_add": [f"+4670123{i:04d}" for i in range(1001)]})),
        ("POST", "update with junk", b"\x00\x01"),
    ]
    for method, name, content in bad:
        response = await http.request(method, url, content=content, headers=headers)
        _assert_xms_error(name, response)
    assert await row_counts(platform.ctx.db) == before
    assert await status_counts(platform.ctx.db) == statuses
    now = await http.get(url, headers=platform.auth)
    assert now.status_code == 200
    assert {k: now.json()[k] for k in ("to", "body", "from", "send_at")} == {
        k: batch[k] for k in ("to", "body", "from", "send_at")
    }
