"""CONTACT_CREATE / _UPDATE / _MERGE / _DELETE callbacks for contact changes made through the API."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from tidings.api.testing import ApiServer
from tidings.store.schema import webhook_outbox

from .test_wire import _session

CONTACT_TRIGGERS = ["CONTACT_CREATE", "CONTACT_UPDATE", "CONTACT_MERGE", "CONTACT_DELETE"]


async def _outbox(api: ApiServer) -> list[tuple[str, str, dict[str, Any]]]:
    async with api.ctx.db.read() as conn:
        rows = (await conn.execute(select(webhook_outbox).order_by(webhook_outbox.c.id))).all()
    return [(r.url, r.kind, orjson.loads(r.body)) for r in rows]


async def test_contact_changes_reach_every_subscribed_app_of_the_project(api: ApiServer) -> None:
    http, base, h = await _session(api)
    async with http:
        apps = [(await http.post(f"{base}/apps", json={"display_name": n}, headers=h)).json()["id"] for n in "AB"]
        for app_id, triggers in ((apps[0], CONTACT_TRIGGERS), (apps[1], ["MESSAGE_DELIVERY"])):
            r = await http.post(f"{base}/apps/{app_id}/webhooks", headers=h, json={
                "target": f"https://example.com/{app_id}", "triggers": triggers, "secret": "s"})
            assert r.status_code == 200, r.text
        one = (await http.post(f"{base}/contacts", headers=h, json={
            "channel_identities": [{"channel": "SMS", "identity": "+46705550001"}], "display_name": "One"})).json()
        two = (await http.post(f"{base}/contacts", headers=h, json={
            "channel_identities": [{"channel": "SMS", "identity": "+46705550002"}]})).json()
        r = await http.patch(f"{base}/contacts/{one['id']}", headers=h, json={"email": "one@example.com"})
        assert r.status_code == 200, r.text
        merged = (await http.post(f"{base}/contacts/{one['id']}:merge", headers=h,
                                  json={"source_id": two["id"]})).json()
        assert (await http.delete(f"{base}/contacts/{one['id']}", headers=h)).status_code == 200
        # A refused change tells nobody.
        assert (await http.delete(f"{base}/contacts/{one['id']}", headers=h)).status_code == 404
    out = await _outbox(api)
    assert {url for url, _, _ in out} == {f"https://example.com/{apps[0]}"}
    assert [kind for _, kind, _ in out] == ["contact_create", "contact_create", "contact_update",
                                            "contact_merge", "contact_delete"]
    bodies = [body for _, _, body in out]
    assert all(b["app_id"] == apps[0] and b["project_id"] for b in bodies)
    assert bodies[0]["contact_create_notification"]["contact"] == one
    assert bodies[2]["contact_update_notification"]["contact"]["email"] == "one@example.com"
    merge = bodies[3]["contact_merge_notification"]
    assert merge["preserved_contact"] == merged and merge["deleted_contact"]["id"] == two["id"]
    assert bodies[4]["contact_delete_notification"]["contact"] == merged
