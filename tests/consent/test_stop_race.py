"""A STOP racing engagement sends, in both profiles: once the STOP is acknowledged (its
confirmation has reached the handset), no engagement message goes out — not one sent after it,
nor one accepted before it and dispatched after it. Each is Rejected with the consent code. The
send path asks the ledger at dispatch (`check_consent`, through the policy gate)."""

from __future__ import annotations

import asyncio
import time

import httpx

from tidings.policy.consent import REASON_CODES
from tidings.policy.keywords import DEFAULT_REPLIES, KeywordKind
from tidings.store.queries import policy as policy_store
from tidings.testing.platform import Platform

from ..pipeline.helpers import handset_messages, wait_handset, wait_status, wait_until
from .test_e2e import OURS, api, texts, token

HANDSET = "+46701350001"
STOP_TEXT = DEFAULT_REPLIES["en"][KeywordKind.OPT_OUT]


async def test_no_engagement_after_an_acknowledged_stop(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    # Only consent is under test: no quiet hours, no engagement cap for this project.
    async with platform.ctx.db.write() as conn:
        await policy_store.upsert_settings(conn, platform.creds.project_id, {
            "caps": {"engagement": None}, "quiet_hours": {"enabled": False}}, platform.ctx.clock())
    r = await http.post(api(platform, "/consents"), headers=auth, json={
        "identity": HANDSET, "channel": "SMS", "purpose": "engagement", "action": "opt_in"})
    assert r.status_code == 201, r.text
    first = await platform.send(http, to=[HANDSET], body="promo first", purpose="engagement", **{"from": OURS})
    await wait_status(platform, http, first["id"], HANDSET, "Delivered")
    # Accepted now, dispatched after the STOP.
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
    scheduled = await platform.send(http, to=[HANDSET], body="promo scheduled", purpose="engagement",
                                    send_at=send_at, **{"from": OURS})

    sent: list[tuple[str, str, float]] = []  # (batch id, body, accepted at)
    stop = asyncio.Event()

    async def keep_sending() -> None:
        n = 0
        while not stop.is_set():
            body = f"promo {n}"
            batch = await platform.send(http, to=[HANDSET], body=body, purpose="engagement", **{"from": OURS})
            sent.append((batch["id"], body, time.monotonic()))
            n += 1
            await asyncio.sleep(0.03)

    sender = asyncio.create_task(keep_sending())
    try:
        await asyncio.sleep(0.3)
        await texts(platform, http, HANDSET, "STOP")

        async def acknowledged() -> float | None:
            got = await handset_messages(platform, http, HANDSET)
            return time.monotonic() if any(m["body"] == STOP_TEXT for m in got) else None

        acked_at = await wait_until(acknowledged, "the STOP confirmation on the handset")
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await sender
    after = [(b, body) for b, body, at in sent if at > acked_at]
    assert after, "no send raced the acknowledged STOP"
    code = REASON_CODES["consent_opted_out"]
    for batch_id, _ in [*after, (scheduled["id"], "promo scheduled")]:
        report = await wait_status(platform, http, batch_id, HANDSET, "Rejected", timeout=15)
        assert report["code"] == code
    received = {m["body"] for m in await handset_messages(platform, http, HANDSET)}
    assert not received & {body for _, body in after}
    assert "promo scheduled" not in received and "promo first" in received
    # Information still reaches a contact who opted out of engagement only; not after a STOP (all).
    info = await platform.send(http, to=[HANDSET], body="your parcel is here", **{"from": OURS})
    await wait_status(platform, http, info["id"], HANDSET, "Rejected")
    await wait_handset(platform, http, HANDSET, len(received))
