"""Conversation API gaps over HTTP and the official SDK, in both database profiles: app-scoped
channel identities, merging contacts with active conversations, conversation create / update /
stop / delete, events:send (acceptance and refusals) and messages:fetch-last-message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.api.conversation.test_sdk import call, conversation_client, every
from tests.api.conversation.test_wire import _session
from tidings.api.testing import ApiServer
from tidings.store.conversation_schema import conv_app_events, conv_contacts, conv_messages

SMS = [{"channel": "SMS", "static_bearer": {"claimed_identity": "plan1", "token": "t"}}]


def _send(app_id: str, text: str, recipient: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"app_id": app_id, "message": {"text_message": {"text": text}}, "recipient": recipient, **extra}


def _sms(number: str) -> dict[str, Any]:
    return {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": number}]}}


async def _message(api: ApiServer, message_id: str) -> Any:
    async with api.ctx.db.read() as conn:
        return (await conn.execute(select(conv_messages).where(conv_messages.c.id == message_id))).one()


async def _count(api: ApiServer, table: Any) -> int:
    async with api.ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_app_scoped_identities_are_stored_shown_and_chosen_per_app(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        a = (await http.post(f"{base}/apps", json={"display_name": "A", "channel_credentials": SMS}, headers=h)).json()
        b = (await http.post(f"{base}/apps", json={"display_name": "B", "channel_credentials": SMS}, headers=h)).json()
        c = (await http.post(f"{base}/apps", json={"display_name": "C"}, headers=h)).json()
        r = await http.post(f"{base}/contacts", headers=h, json={"channel_identities": [
            {"channel": "MESSENGER", "identity": "psid-a", "app_id": a["id"]},
            {"channel": "MESSENGER", "identity": "psid-b", "app_id": b["id"]},
            {"channel": "TELEGRAM", "identity": "777"}]})
        assert r.status_code == 200, r.text
        contact = r.json()
        assert contact["channel_identities"] == [
            {"channel": "MESSENGER", "identity": "psid-a", "app_id": a["id"]},
            {"channel": "MESSENGER", "identity": "psid-b", "app_id": b["id"]},
            {"channel": "TELEGRAM", "identity": "777"}]
        order = {"channel_priority_order": ["MESSENGER", "TELEGRAM"]}
        sent_b = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            b["id"], "from B", {"contact_id": contact["id"]}, **order))).json()
        sent_a = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            a["id"], "from A", {"contact_id": contact["id"]}, **order))).json()
        assert (await _message(api, sent_b["message_id"])).plan[0] == {"channel": "MESSENGER", "identity": "psid-b"}
        assert (await _message(api, sent_a["message_id"])).plan[0] == {"channel": "MESSENGER", "identity": "psid-a"}
        # App C has no Messenger identity of its own: another app's PSID is not used, Telegram is.
        sent_c = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            c["id"], "from C", {"contact_id": contact["id"]}, **order))).json()
        assert (await _message(api, sent_c["message_id"])).plan == [{"channel": "TELEGRAM", "identity": "777"}]
        # Identified by B's PSID without app_id, sent by B: the same contact.
        sent = (await http.post(f"{base}/messages:send", headers=h, json=_send(b["id"], "again", {
            "identified_by": {"channel_identities": [{"channel": "MESSENGER", "identity": "psid-b"}]}}))).json()
        assert (await _message(api, sent["message_id"])).contact_id == contact["id"]
        # An app-less identity is every app's.
        r = await http.patch(f"{base}/contacts/{contact['id']}", headers=h, json={"channel_identities": [
            {"channel": "MESSENGER", "identity": "psid-any"}, {"channel": "MESSENGER", "identity": "psid-b",
                                                              "app_id": b["id"]}]})
        assert r.status_code == 200, r.text
        sent_a = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            a["id"], "A again", {"contact_id": contact["id"]}, **order))).json()
        assert (await _message(api, sent_a["message_id"])).plan[0]["identity"] == "psid-any"
        # The same identity string for two apps belongs to two contacts.
        r = await http.post(f"{base}/contacts", headers=h, json={"channel_identities": [
            {"channel": "MESSENGER", "identity": "psid-b", "app_id": a["id"]}]})
        assert r.status_code == 200, r.text


async def test_identity_of_an_unknown_app_is_refused_and_nothing_written(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        before = await _count(api, conv_contacts)
        r = await http.post(f"{base}/contacts", headers=h, json={"channel_identities": [
            {"channel": "MESSENGER", "identity": "p1", "app_id": "01NOSUCHAPP0000000000000000"}]})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert "app_id" in r.json()["error"]["message"]
        assert await _count(api, conv_contacts) == before


async def test_sdk_contact_with_app_scoped_identity(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="Shop", channel_credentials={"SMS": SMS[0]["static_bearer"]})
    contact = await call(c.contacts.create, channel_identities=[
        {"channel": "MESSENGER", "identity": "psid-1", "app_id": app.id}], language="EN_US", display_name="P")
    got = await call(c.contacts.get, contact_id=contact.id)
    assert [(i.channel, i.identity, i.app_id) for i in got.channel_identities] == [("MESSENGER", "psid-1", app.id)]


async def test_merge_keeps_one_active_conversation_per_app(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A", "channel_credentials": SMS},
                               headers=h)).json()
        first = (await http.post(f"{base}/messages:send", headers=h,
                                 json=_send(app["id"], "one", _sms("+46701110001")))).json()
        second = (await http.post(f"{base}/messages:send", headers=h,
                                  json=_send(app["id"], "two", _sms("+46701110002")))).json()
        dest, src = (await _message(api, first["message_id"])), (await _message(api, second["message_id"]))
        r = await http.post(f"{base}/contacts/{dest.contact_id}:merge", headers=h, json={"source_id": src.contact_id})
        assert r.status_code == 200, r.text
        convs = (await http.get(f"{base}/conversations", params={"contact_id": dest.contact_id},
                                headers=h)).json()["conversations"]
        active = [cv for cv in convs if cv["active"]]
        assert [cv["id"] for cv in active] == [dest.conversation_id]
        msgs = (await http.get(f"{base}/conversations/{dest.conversation_id}/messages", headers=h)).json()
        assert sorted(m["id"] for m in msgs["messages"]) == sorted([first["message_id"], second["message_id"]])
        assert all(m["contact_id"] == dest.contact_id for m in msgs["messages"])
        # The next message goes into that one conversation.
        third = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            app["id"], "three", {"contact_id": dest.contact_id}))).json()
        assert (await _message(api, third["message_id"])).conversation_id == dest.conversation_id


async def test_conversation_create_update_stop_delete(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A", "channel_credentials": SMS},
                               headers=h)).json()
        contact = (await http.post(f"{base}/contacts", headers=h, json={
            "channel_identities": [{"channel": "SMS", "identity": "+46701110003"}]})).json()
        r = await http.post(f"{base}/conversations", headers=h, json={
            "app_id": app["id"], "contact_id": contact["id"], "metadata_json": {"a": 1, "b": {"c": 2}},
            "correlation_id": "corr"})
        assert r.status_code == 200, r.text
        conv = r.json()
        assert conv["active"] is True and conv["metadata_json"] == {"a": 1, "b": {"c": 2}}
        assert conv["correlation_id"] == "corr"
        again = await http.post(f"{base}/conversations", headers=h, json={"app_id": app["id"],
                                                                         "contact_id": contact["id"]})
        assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"
        r = await http.patch(f"{base}/conversations/{conv['id']}", headers=h,
                             params={"metadata_update_strategy": "MERGE_PATCH"},
                             json={"metadata_json": {"b": {"c": None, "d": 3}}, "active_channel": "SMS"})
        assert r.status_code == 200, r.text
        assert r.json()["metadata_json"] == {"a": 1, "b": {"d": 3}} and r.json()["active_channel"] == "SMS"
        bad = await http.patch(f"{base}/conversations/{conv['id']}", headers=h, json={"active_channel": "PIGEON"})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
        # A message joins the conversation created for it.
        sent = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            app["id"], "hi", {"contact_id": contact["id"]}))).json()
        assert (await _message(api, sent["message_id"])).conversation_id == conv["id"]
        assert (await http.post(f"{base}/conversations/{conv['id']}:stop", headers=h)).json() == {}
        assert (await http.get(f"{base}/conversations/{conv['id']}", headers=h)).json()["active"] is False
        later = (await http.post(f"{base}/messages:send", headers=h, json=_send(
            app["id"], "new", {"contact_id": contact["id"]}))).json()
        assert (await _message(api, later["message_id"])).conversation_id != conv["id"]
        assert (await http.delete(f"{base}/conversations/{conv['id']}", headers=h)).json() == {}
        assert (await http.get(f"{base}/conversations/{conv['id']}", headers=h)).status_code == 404
        assert (await http.get(f"{base}/messages/{sent['message_id']}", headers=h)).status_code == 404
        missing = await http.post(f"{base}/conversations/nope:stop", headers=h)
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
        r = await http.post(f"{base}/conversations", headers=h, json={"app_id": app["id"]})
        assert r.status_code == 400 and "contact_id" in r.json()["error"]["message"]


async def test_events_send_accepts_durably_and_refuses_bad_input(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A", "channel_credentials": SMS},
                               headers=h)).json()
        body = {"app_id": app["id"], "event": {"composing_event": {}}, "recipient": _sms("+46701110004")}
        r = await http.post(f"{base}/events:send", headers=h, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["event_id"] and r.json()["accepted_time"].endswith("Z")
        async with api.ctx.db.read() as conn:
            row = (await conn.execute(select(conv_app_events))).one()
        assert (row.id, row.channel, row.identity, row.state) == (r.json()["event_id"], "SMS", "+46701110004",
                                                                  "PENDING")
        before = await _count(api, conv_app_events)
        for bad, field in (({**body, "event": {}}, "event"),
                           ({**body, "event": {"composing_event": {}, "generic_event": {"payload": {}}}}, "event"),
                           ({**body, "event": {"typing": {}}}, "event"),
                           ({**body, "recipient": {}}, "recipient"),
                           ({**body, "queue": "URGENT"}, "queue"),
                           ({**body, "channel_priority_order": ["PIGEON"]}, "channel_priority_order"),
                           ({**body, "event": {"generic_event": {"payload": "x"}}}, "payload")):
            r = await http.post(f"{base}/events:send", headers=h, json=bad)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and field in r.json()["error"]["message"]
        r = await http.post(f"{base}/events:send", headers=h, json={**body, "channel_priority_order": ["MESSENGER"]})
        assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION"
        r = await http.post(f"{base}/events:send", headers=h, json={**body, "app_id": "nope"})
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
        assert await _count(api, conv_app_events) == before


async def test_fetch_last_message_over_http_and_sdk(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="A", channel_credentials={"SMS": SMS[0]["static_bearer"]})
    ids = {}
    for number, texts in (("+46701110005", ["a1", "a2"]), ("+46701110006", ["b1"]), ("+46701110007", ["c1"])):
        for text in texts:
            ids[text] = (await call(c.messages.send_text_message, app_id=app.id, text=text, recipient_identities=[
                {"channel": "SMS", "identity": number}])).message_id
    sdk_page = await call(c.messages.list_last_messages_by_channel_identity,
                          channel_identities=["+46701110005", "+46701110006"], page_size=1)
    got = [m.id for m in await every(sdk_page)]
    assert sorted(got) == sorted([ids["a2"], ids["b1"]])
    async with httpx.AsyncClient(timeout=10) as http:
        token = (await http.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                                 data={"grant_type": "client_credentials"})).json()["access_token"]
        url = f"{api.base_url}/v1/projects/{creds.project_id}/messages:fetch-last-message"
        h = {"Authorization": f"Bearer {token}"}
        contact_id = (await _message(api, ids["c1"])).contact_id
        r = await http.post(url, headers=h, json={"contact_ids": [contact_id], "view": "WITHOUT_METADATA"})
        assert r.status_code == 200, r.text
        assert [m["id"] for m in r.json()["messages"]] == [ids["c1"]] and r.json()["next_page_token"] == ""
        for bad in ({}, {"channel_identities": ["+46701110005"], "contact_ids": [contact_id]},
                    {"contact_ids": [contact_id], "messages_source": "DISPATCH_SOURCE"},
                    {"channel_identities": ["x"], "page_size": 1001}, {"channel_identities": ["x"], "view": "ALL"}):
            r = await http.post(url, headers=h, json=bad)
            assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", (bad, r.text)


@pytest.mark.parametrize("kind", ["composing_end_event"])
async def test_events_send_by_contact_id_uses_the_active_channel(api: ApiServer, kind: str) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A", "channel_credentials": SMS},
                               headers=h)).json()
        contact = (await http.post(f"{base}/contacts", headers=h, json={"channel_identities": [
            {"channel": "SMS", "identity": "+46701110008"},
            {"channel": "MESSENGER", "identity": "psid-x", "app_id": app["id"]}]})).json()
        await http.post(f"{base}/conversations", headers=h, json={
            "app_id": app["id"], "contact_id": contact["id"], "active_channel": "MESSENGER"})
        r = await http.post(f"{base}/events:send", headers=h, json={
            "app_id": app["id"], "event": {kind: {}}, "recipient": {"contact_id": contact["id"]}})
        assert r.status_code == 200, r.text
        async with api.ctx.db.read() as conn:
            row = (await conn.execute(select(conv_app_events).where(
                conv_app_events.c.id == r.json()["event_id"]))).one()
        assert (row.channel, row.identity, row.contact_id) == ("MESSENGER", "psid-x", contact["id"])
        assert row.conversation_id
