"""Content safety on the SMS send path: a phishing message is refused at dispatch (Rejected,
code 490) and never reaches the handset; an ordinary message beside it is delivered."""

from __future__ import annotations

import httpx

from tidings.testing.platform import Platform

from .helpers import handset_messages, wait_status

PHISHING = ("URGENT: your PayPal account is suspended. Verify your password and card number now at "
            "http://paypa1-account-secure.com/login or lose access today")


async def test_phishing_is_rejected_and_never_sent(platform: Platform, http: httpx.AsyncClient) -> None:
    bad = await platform.send(http, to=["+46701239001"], body=PHISHING, **{"from": "+46700000000"})
    good = await platform.send(http, to=["+46701239002"], body="Your table for 4 is booked for 19:30.",
                               **{"from": "+46700000000"})
    report = await wait_status(platform, http, bad["id"], "+46701239001", "Rejected")
    assert report["code"] == 490
    await wait_status(platform, http, good["id"], "+46701239002", "Delivered")
    assert await handset_messages(platform, http, "+46701239001") == []
