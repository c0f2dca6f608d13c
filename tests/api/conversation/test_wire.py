"""Conversation API resources the SDK has no client for (app webhooks, conversations), and the
error format, over raw HTTP."""

from __future__ import annotations

import httpx

from tidings.api.testing import ApiServer


async def _session(api: ApiServer) -> tuple[httpx.AsyncClient, str, dict[str, str]]:
    creds = await api.project()
    http = httpx.AsyncClient(timeout=10)
    async with httpx.AsyncClient(timeout=10) as token_client:
        r = await token_client.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                                    data={"grant_type": "client_credentials"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return http, f"{api.base_url}/v1/projects/{creds.project_id}", headers


async def test_app_webhooks_crud_and_validation(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A"}, headers=h)).json()
        r = await http.post(f"{base}/apps/{app['id']}/webhooks", headers=h, json={
            "target": "https://example.com/hook", "triggers": ["MESSAGE_DELIVERY"], "secret": "s1"})
        assert r.status_code == 200, r.text
        hook = r.json()
        assert hook["app_id"] == app["id"] and hook["target_type"] == "HTTP" and hook["secret"] == "s1"
        listed = (await http.get(f"{base}/apps/{app['id']}/webhooks", headers=h)).json()["webhooks"]
        assert [w["id"] for w in listed] == [hook["id"]]
        r = await http.patch(f"{base}/webhooks/{hook['id']}", headers=h,
                             json={"triggers": ["MESSAGE_INBOUND", "MESSAGE_DELIVERY"]})
        assert r.json()["triggers"] == ["MESSAGE_INBOUND", "MESSAGE_DELIVERY"]
        assert r.json()["target"] == "https://example.com/hook"
        bad = await http.post(f"{base}/webhooks", headers=h, json={
            "app_id": app["id"], "target": "https://e.com", "triggers": ["NOPE"]})
        assert bad.status_code == 400
        assert bad.json()["error"]["status"] == "INVALID_ARGUMENT" and "NOPE" in bad.json()["error"]["message"]
        bad = await http.post(f"{base}/webhooks", headers=h, json={
            "app_id": app["id"], "target": "ftp://e.com", "triggers": ["MESSAGE_INBOUND"]})
        assert bad.status_code == 400 and "target" in bad.json()["error"]["message"]
        assert (await http.delete(f"{base}/webhooks/{hook['id']}", headers=h)).json() == {}
        assert (await http.get(f"{base}/webhooks/{hook['id']}", headers=h)).status_code == 404


async def test_app_validation_and_json_errors(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        r = await http.post(f"{base}/apps", headers=h, json={"display_name": "A", "channel_credentials": [
            {"channel": "CARRIER_PIGEON", "static_token": {"token": "x"}}]})
        assert r.status_code == 400 and "channel" in r.json()["error"]["message"]
        r = await http.post(f"{base}/apps", headers={**h, "content-type": "application/json"}, content=b"{nope")
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert (await http.get(f"{base}/apps", headers=h)).json() == {"apps": []}


async def test_conversations_list_get_and_messages(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        app = (await http.post(f"{base}/apps", json={"display_name": "A"}, headers=h)).json()
        send = {"app_id": app["id"], "message": {"text_message": {"text": "hi"}},
                "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46705555555"}]}}}
        ids = [(await http.post(f"{base}/messages:send", json=send, headers=h)).json()["message_id"] for _ in range(2)]
        convs = (await http.get(f"{base}/conversations", params={"app_id": app["id"]}, headers=h)).json()
        assert len(convs["conversations"]) == 1
        conv = convs["conversations"][0]
        assert conv["active"] is True
        got = (await http.get(f"{base}/conversations/{conv['id']}", headers=h)).json()
        assert got["contact_id"] == conv["contact_id"]
        msgs = (await http.get(f"{base}/conversations/{conv['id']}/messages", headers=h)).json()["messages"]
        assert sorted(m["id"] for m in msgs) == sorted(ids)
        # Same key, same body: the first answer; same key, other body: 409.
        k = {**h, "Idempotency-Key": "k1"}
        first = (await http.post(f"{base}/messages:send", json=send, headers=k)).json()
        again = (await http.post(f"{base}/messages:send", json=send, headers=k)).json()
        assert first["message_id"] == again["message_id"]
        other = await http.post(f"{base}/messages:send", json={**send, "correlation_id": "x"}, headers=k)
        assert other.status_code == 409 and other.json()["error"]["status"] == "ALREADY_EXISTS"
