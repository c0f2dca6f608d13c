"""Conversation API lists (keyset `page_token`, `start_time`/`end_time`, `total_size`) and send
bodies that used to answer 500 instead of 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tidings.api.testing import ApiServer

from .test_sdk import call, conversation_client, every
from .test_wire import _session

SMS = [{"channel": "SMS", "identity": "+46705555555"}]


def _send_body(app_id: str, identity: str = "+46705555555") -> dict[str, Any]:
    return {"app_id": app_id, "message": {"text_message": {"text": "hi"}},
            "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": identity}]}}}


async def _app(http: httpx.AsyncClient, base: str, h: dict[str, str]) -> str:
    return str((await http.post(f"{base}/apps", json={"display_name": "A"}, headers=h)).json()["id"])


async def test_send_with_malformed_fields_is_400_not_500(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        send = _send_body(await _app(http, base, h))
        for bad, field in (({"correlation_id": {"a": 1}}, "correlation_id"),
                           ({"correlation_id": 7}, "correlation_id"),
                           ({"message": {"template_message": {"channel_template": "x"}}}, "channel_template"),
                           ({"message": {"template_message": {"omni_template": "x"}}}, "omni_template")):
            r = await http.post(f"{base}/messages:send", json={**send, **bad}, headers=h)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and field in r.json()["error"]["message"]
        assert (await http.get(f"{base}/messages", headers=h)).json()["messages"] == []


async def test_message_pages_neither_repeat_nor_skip_when_messages_arrive(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        send = _send_body(await _app(http, base, h))
        sent = []
        for _ in range(5):
            sent.append((await http.post(f"{base}/messages:send", json=send, headers=h)).json()["message_id"])
            api.clock.advance(1)
        first = (await http.get(f"{base}/messages", params={"page_size": 2}, headers=h)).json()
        # Two new messages arrive (newest first: at the top) while the client pages.
        for _ in range(2):
            await http.post(f"{base}/messages:send", json=send, headers=h)
            api.clock.advance(1)
        seen = [m["id"] for m in first["messages"]]
        token = first["next_page_token"]
        while token:
            page = (await http.get(f"{base}/messages", params={"page_size": 2, "page_token": token},
                                   headers=h)).json()
            seen += [m["id"] for m in page["messages"]]
            token = page["next_page_token"]
        assert seen == list(reversed(sent))


async def test_contact_pages_do_not_skip_when_a_served_contact_is_deleted(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        ids = []
        for n in range(4):
            r = await http.post(f"{base}/contacts", headers=h, json={
                "channel_identities": [{"channel": "SMS", "identity": f"+4670555000{n}"}]})
            ids.append(r.json()["id"])
            api.clock.advance(1)
        first = (await http.get(f"{base}/contacts", params={"page_size": 2}, headers=h)).json()
        assert [c["id"] for c in first["contacts"]] == ids[:2]
        assert (await http.delete(f"{base}/contacts/{ids[0]}", headers=h)).status_code == 200
        second = (await http.get(f"{base}/contacts", params={"page_size": 2, "page_token": first["next_page_token"]},
                                 headers=h)).json()
        assert [c["id"] for c in second["contacts"]] == ids[2:]
        assert second["next_page_token"] == ""
        bad = await http.get(f"{base}/contacts", params={"page_token": "2"}, headers=h)
        assert bad.status_code == 400 and "page_token" in bad.json()["error"]["message"]


async def test_conversation_list_total_size_counts_every_match(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app_id = await _app(http, base, h)
        for n in range(3):
            await http.post(f"{base}/messages:send", json=_send_body(app_id, f"+4670555100{n}"), headers=h)
            api.clock.advance(1)
        page = (await http.get(f"{base}/conversations", params={"page_size": 2}, headers=h)).json()
        assert len(page["conversations"]) == 2 and page["total_size"] == 3
        rest = (await http.get(f"{base}/conversations", params={"page_token": page["next_page_token"]},
                               headers=h)).json()
        assert len(rest["conversations"]) == 1 and rest["total_size"] == 3 and rest["next_page_token"] == ""


async def test_list_messages_honours_start_and_end_time(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="A",
                     channel_credentials={"SMS": {"claimed_identity": "p", "token": "t"}})
    times = []
    for _ in range(3):
        r = await call(c.messages.send_text_message, app_id=app.id, text="hi",
                       recipient_identities=[{"channel": "SMS", "identity": "+46705555555"}])
        times.append((r.message_id, datetime.fromisoformat(r.accepted_time.isoformat())))
        api.clock.advance(3600)
    middle_id, middle_at = times[1]
    got = await every(await call(c.messages.list, start_time=middle_at - timedelta(seconds=1),
                                 end_time=middle_at + timedelta(seconds=1)))
    assert [m.id for m in got] == [middle_id]
    got = await every(await call(c.messages.list, start_time=middle_at - timedelta(seconds=1)))
    assert [m.id for m in got] == [times[2][0], middle_id]
    http, base, h = await _session(api)
    async with http:
        r = await http.get(f"{base}/messages", params={"start_time": "yesterday"}, headers=h)
        assert r.status_code == 400 and "start_time" in r.json()["error"]["message"]
        at = datetime.now(UTC).isoformat()
        r = await http.get(f"{base}/messages", params={"start_time": at, "end_time": at}, headers=h)
        assert r.status_code == 400
