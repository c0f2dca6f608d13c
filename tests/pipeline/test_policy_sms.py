"""The send policy on the SMS API, end to end in both profiles: caps and collapse refusals as
Rejected recipients with their codes in delivery reports and signed webhooks, security exempt,
quiet hours deferring then sending at the window's end, and a STOP acknowledged before dispatch
winning over a scheduled engagement message."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sinch.domains.sms.models.v1.response import RecipientDeliveryReport

from tidings.consent import ledger
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import FROM, handset_messages, parse_signed, recipient_report, wait_handset, wait_status, wait_until

NO_QUIET = {"quiet_hours": {"enabled": False}}


async def oauth(platform: Platform, http: httpx.AsyncClient) -> dict[str, str]:
    """A project OAuth2 bearer header (the policy API is a project-level API)."""
    response = await http.post(f"{platform.base_url}/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=(platform.creds.key_id, platform.creds.key_secret))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def put_policy(platform: Platform, http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}/policy"
    response = await http.put(url, json=body, headers=await oauth(platform, http))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def consent(platform: Platform, number: str, action: str, purpose: str = "engagement") -> None:
    async with platform.ctx.db.write() as conn:
        await ledger.record(conn, platform.creds.project_id, ledger.Event(
            number, "*", purpose, action, "api", {"request_id": "test"}, platform.ctx.clock()))


async def test_policy_settings_api(platform: Platform, http: httpx.AsyncClient) -> None:
    url = f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}/policy"
    auth = await oauth(platform, http)
    got = await http.get(url, headers=auth)
    assert got.status_code == 200, got.text
    shown = got.json()
    assert shown["caps"]["engagement"] == {"per_day": 1, "per_week": 3}
    assert shown["quiet_hours"]["purposes"] == ["engagement"]
    bad = await http.put(url, json={"caps": {"security": {"per_day": 1}}}, headers=auth)
    assert bad.status_code == 400 and bad.json()["code"] == "syntax_constraint_violation"
    assert (await http.get(url)).status_code == 401
    updated = await put_policy(platform, http, {"caps": {"engagement": {"per_day": 2, "per_week": 5}}})
    assert (await http.get(url, headers=auth)).json() == updated
    assert updated["caps"]["engagement"] == {"per_day": 2, "per_week": 5}
    refused = await http.post(platform.xms("/batches"), headers=platform.auth,
                              json={"to": ["+46701390001"], "from": FROM, "body": "x", "purpose": "spam"})
    assert refused.status_code == 400 and "purpose" in refused.text


async def test_cap_rejects_with_code_in_report_and_webhook_security_exempt(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    await put_policy(platform, http, NO_QUIET)
    to = "+46701310001"
    await consent(platform, to, "opt_in")
    common = {"to": [to], "from": FROM, "delivery_report": "per_recipient", "callback_url": receiver.url}
    first = await platform.send(http, body="Spring sale: 20% off", purpose="engagement", **common)
    await wait_status(platform, http, first["id"], to, "Delivered")
    second = await platform.send(http, body="Last day of the sale", purpose="engagement", **common)
    report = await wait_status(platform, http, second["id"], to, "Rejected")
    assert report["code"] == 487
    security = await platform.send(http, body="Your login code is 1234", purpose="security", **common)
    await wait_status(platform, http, security["id"], to, "Delivered")
    assert [m["body"] for m in await handset_messages(platform, http, to)] == [
        "Spring sale: 20% off", "Your login code is 1234"]
    await receiver.wait_for(5)
    events = [e for e in parse_signed(platform, receiver) if isinstance(e, RecipientDeliveryReport)]
    assert [(e.status, e.code) for e in events if e.batch_id == second["id"]] == [("Rejected", 487)]


async def test_identical_information_collapses(platform: Platform, http: httpx.AsyncClient) -> None:
    await put_policy(platform, http, {"collapse_identical_bodies": True})
    to = "+46701320001"
    body = {"to": [to], "from": FROM, "body": "Your parcel is out for delivery"}
    first = await platform.send(http, **body)
    await wait_status(platform, http, first["id"], to, "Delivered")
    again = await platform.send(http, **body)
    assert (await wait_status(platform, http, again["id"], to, "Rejected"))["code"] == 488
    keyed = await platform.send(http, to=[to], body="Parcel update", collapse_key="parcel-9", **{"from": FROM})
    await wait_status(platform, http, keyed["id"], to, "Delivered")
    other = await platform.send(http, to=[to], body="Parcel update, again", collapse_key="parcel-9", **{"from": FROM})
    assert (await wait_status(platform, http, other["id"], to, "Rejected"))["code"] == 488
    assert len(await handset_messages(platform, http, to)) == 2


async def test_quiet_hours_defer_then_send_at_window_end(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    to = "+46701330001"  # Europe/Stockholm
    await consent(platform, to, "opt_in")
    local = dt.datetime.now(ZoneInfo("Europe/Stockholm"))
    start, end = local - dt.timedelta(minutes=1), local + dt.timedelta(seconds=4)
    await put_policy(platform, http, {"quiet_hours": {"countries": {"SE": {"spans": [
        {"start": start.strftime("%H:%M:%S"), "end": end.strftime("%H:%M:%S")}]}}}})
    batch = await platform.send(http, to=[to], body="Weekend offer", purpose="engagement",
                                delivery_report="per_recipient", callback_url=receiver.url, **{"from": FROM})
    async def deferred() -> dict[str, Any] | None:
        report = await recipient_report(platform, http, batch["id"], to)
        return report if report["code"] == 489 else None

    waiting = await wait_until(deferred, "the deferral's code", timeout=5)
    assert waiting["status"] == "Queued"
    security = await platform.send(http, to=[to], body="Code 9876", purpose="security", **{"from": FROM})
    await wait_status(platform, http, security["id"], to, "Delivered")
    assert [m["body"] for m in await handset_messages(platform, http, to)] == ["Code 9876"]
    done = await wait_status(platform, http, batch["id"], to, "Delivered", timeout=20)
    assert done["at"]
    assert [m["body"] for m in await wait_handset(platform, http, to, 2)] == ["Code 9876", "Weekend offer"]
    events = [e for e in parse_signed(platform, receiver) if isinstance(e, RecipientDeliveryReport)]
    assert ("Queued", 489) in [(e.status, e.code) for e in events]


async def test_stop_acknowledged_before_dispatch_wins(platform: Platform, http: httpx.AsyncClient) -> None:
    await put_policy(platform, http, NO_QUIET)
    to = "+46701340001"
    await consent(platform, to, "opt_in")
    send_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
    batch = await platform.send(http, to=[to], body="Flash sale tonight", purpose="engagement",
                                send_at=send_at, **{"from": FROM})
    await consent(platform, to, "opt_out", purpose="*")  # STOP, acknowledged before dispatch
    report = await wait_status(platform, http, batch["id"], to, "Rejected", timeout=15)
    assert report["code"] == 485
    assert await handset_messages(platform, http, to) == []
    assert (await recipient_report(platform, http, batch["id"], to))["status"] == "Rejected"
