"""XMS dry runs report content-safety warnings (an extension field the Sinch SDK tolerates)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sinch.domains.sms.models.v1.response.dry_run_response import DryRunResponse

from tidings.api.testing import ApiServer, sdk_client

TO = ["+46700000001", "+46700000002"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_dry_run_lists_spam_lint_and_would_be_refusals(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches/dry_run")
    async with httpx.AsyncClient() as http:
        spam = await http.post(url, headers=bearer(creds.api_token), params={"per_recipient": "true"},
                               json={"to": TO, "from": "Shop", "body": "HUGE SALE TODAY!!! Shop now: bit.ly/x7"})
        phishing = await http.post(url, headers=bearer(creds.api_token), json={
            "to": TO, "from": "Shop", "body": "Royal Mail: pay the £2.99 fee today: https://royalmail-fee.example.com"})
        health = await http.post(url, headers=bearer(creds.api_token), json={
            "to": TO, "from": "Clinic", "body": "Reminder: your chemotherapy session is on Tuesday at 9:00."})
        plain = await http.post(url, headers=bearer(creds.api_token), json={"to": TO, "from": "Shop", "body": "Hello"})
    assert spam.status_code == 200
    body = spam.json()
    assert [w["code"] for w in body["warnings"]] == ["spam_excess_capitals", "spam_exclamations", "spam_shortened_link"]
    assert all(isinstance(w["detail"], str) and w["detail"] for w in body["warnings"])
    assert body["number_of_recipients"] == 2 and len(body["per_recipient"]) == 2
    codes = [w["code"] for w in phishing.json()["warnings"]]
    assert codes[0] == "phishing_suspected" and {"brand_in_domain", "payment_request"} <= set(codes)
    assert [w["code"] for w in health.json()["warnings"]] == ["health_info_channel_not_eligible"]
    assert "warnings" not in plain.json()


async def test_sdk_accepts_the_warnings_field(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    result = await asyncio.to_thread(client.sms.batches.dry_run_sms, to=TO, from_="Shop",
                                     body="WIN A FREE PRIZE TODAY!!!", per_recipient=True)
    assert isinstance(result, DryRunResponse)
    assert result.number_of_recipients == 2
    extra: Any = getattr(result, "warnings", None) or (result.model_extra or {}).get("warnings")
    assert [w["code"] for w in extra] == ["spam_excess_capitals", "spam_exclamations", "spam_trigger_words"]
