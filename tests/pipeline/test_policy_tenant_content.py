"""Per-project content-safety settings end to end: a look-alike of the project's own domain
(set through the policy API) is refused at dispatch and flagged by the dry run, while its real
domain goes through; health information on SMS is refused unless the project allows SMS."""

from __future__ import annotations

import httpx

from tidings.testing.platform import Platform

from .helpers import FROM, dry_run, handset_messages, wait_status
from .test_policy_sms import put_policy

OWN = "nordgrenbank.se"
LOOKALIKE = "Your statement is ready: https://nordgrenbenk.se/statements"
GENUINE = "Your statement is ready: https://nordgrenbank.se/statements"
PHI = "Dr. Lind: your HIV test result is positive. Continue taking Biktarvy 50 mg daily."


async def test_lookalike_of_tenant_domain_is_blocked(platform: Platform, http: httpx.AsyncClient) -> None:
    before = await platform.send(http, to=["+46701391001"], body=LOOKALIKE, **{"from": FROM})
    await wait_status(platform, http, before["id"], "+46701391001", "Delivered")  # not a known brand yet
    shown = await put_policy(platform, http, {"quiet_hours": {"enabled": False},
                                              "content_safety": {"tenant_domains": [" NordgrenBank.se "]}})
    assert shown["content_safety"] == {"tenant_domains": [OWN], "phi_allowed_channels": ["RCS"]}
    warned = await dry_run(platform, http, to=["+46701391002"], body=LOOKALIKE, **{"from": FROM})
    assert "lookalike_domain" in {w["code"] for w in warned["warnings"]}
    bad = await platform.send(http, to=["+46701391002"], body=LOOKALIKE, **{"from": FROM})
    good = await platform.send(http, to=["+46701391003"], body=GENUINE, **{"from": FROM})
    report = await wait_status(platform, http, bad["id"], "+46701391002", "Rejected")
    assert report["code"] == 490
    await wait_status(platform, http, good["id"], "+46701391003", "Delivered")
    assert await handset_messages(platform, http, "+46701391002") == []


async def test_health_information_on_sms_only_when_allowed(platform: Platform, http: httpx.AsyncClient) -> None:
    await put_policy(platform, http, {"quiet_hours": {"enabled": False}})
    refused = await platform.send(http, to=["+46701392001"], body=PHI, **{"from": FROM})
    report = await wait_status(platform, http, refused["id"], "+46701392001", "Rejected")
    assert report["code"] == 490
    assert await handset_messages(platform, http, "+46701392001") == []
    warned = await dry_run(platform, http, to=["+46701392002"], body=PHI, **{"from": FROM})
    assert "health_info_channel_not_eligible" in {w["code"] for w in warned["warnings"]}

    await put_policy(platform, http, {"quiet_hours": {"enabled": False},
                                      "content_safety": {"phi_allowed_channels": ["rcs", "sms"]}})
    warned = await dry_run(platform, http, to=["+46701392002"], body=PHI, **{"from": FROM})
    codes = {w["code"] for w in warned["warnings"]}
    assert "health_info_detected" in codes and "health_info_channel_not_eligible" not in codes
    allowed = await platform.send(http, to=["+46701392002"], body=PHI, **{"from": FROM})
    await wait_status(platform, http, allowed["id"], "+46701392002", "Delivered")
    assert [m["body"] for m in await handset_messages(platform, http, "+46701392002")] == [PHI]
