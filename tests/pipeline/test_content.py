"""What arrives on the handset, in both profiles: Unicode, emoji and long messages intact (read
through the sandbox REST API), segment counts equal to dry_run's and to the delivery report's,
per-recipient personalisation, flash messages and the parts limit (cut with truncate_concat, else
the message Aborted with 411)."""

from __future__ import annotations

import httpx
import pytest

from tidings.testing.platform import Platform

from .helpers import FROM, dry_run, wait_handset, wait_status

GSM_EXTENDED = "Price {EUR}: 10€ [net] ~ a|b ^up^ \\path\\ " * 6  # extension chars cost two septets
UCS2_LONG = "Привет, мир! Καλημέρα κόσμε. こんにちは 👋🏽🎉 " * 5
EMOJI_SHORT = "Grüße 👍 — see you at 8 🕗"

CASES = {
    "gsm-multipart-extension": (GSM_EXTENDED, "GSM", "GSM"),
    "ucs2-multipart-emoji": (UCS2_LONG, "UNICODE", "UCS2"),
    "ucs2-single-emoji": (EMOJI_SHORT, "UNICODE", "UCS2"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_message_arrives_intact_with_the_segments_dry_run_announced(
    platform: Platform, http: httpx.AsyncClient, case: str,
) -> None:
    body, xms_encoding, handset_encoding = CASES[case]
    recipient = "+46701210001"
    request = {"to": [recipient], "body": body, "from": FROM}
    preview = await dry_run(platform, http, **request)
    [planned] = preview["per_recipient"]
    assert planned["encoding"] == xms_encoding
    parts = planned["number_of_parts"]
    assert parts == preview["number_of_messages"]
    if case != "ucs2-single-emoji":
        assert parts > 1

    batch = await platform.send(http, **request)
    [message] = await wait_handset(platform, http, recipient)
    assert message["body"] == body
    assert message["from"] == FROM
    assert message["encoding"] == handset_encoding
    assert message["segments"] == parts
    assert message["flash"] is False

    report = await wait_status(platform, http, batch["id"], recipient, "Delivered")
    assert report["number_of_message_parts"] == parts
    assert report["encoding"] == xms_encoding


async def test_parameters_render_per_recipient(platform: Platform, http: httpx.AsyncClient) -> None:
    anna, bo, cecilia = "+46701220001", "+46701220002", "+46701220003"
    batch = await platform.send(
        http, to=[anna, bo, cecilia], body="Hej ${name}, din kod är ${code}.", **{"from": FROM},
        parameters={
            "name": {anna: "Anna", bo.lstrip("+"): "Bö 😀", "default": "kund"},
            "code": {anna: "1111", bo: "2222", cecilia: "3333"},
        },
    )
    received = {}
    for number in (anna, bo, cecilia):
        [message] = await wait_handset(platform, http, number)
        received[number] = (message["body"], message["encoding"])
    assert received == {
        anna: ("Hej Anna, din kod är 1111.", "GSM"),
        bo: ("Hej Bö 😀, din kod är 2222.", "UCS2"),
        cecilia: ("Hej kund, din kod är 3333.", "GSM"),
    }
    report = await wait_status(platform, http, batch["id"], bo, "Delivered")
    assert report["encoding"] == "UNICODE"


@pytest.mark.parametrize("body", ["Your code is 4711", "Kod: 4711 🔐"])
async def test_flash_message_arrives_flagged_flash(platform: Platform, http: httpx.AsyncClient, body: str) -> None:
    recipient = "+46701230001"
    batch = await platform.send(http, to=[recipient], body=body, flash_message=True, **{"from": FROM})
    [message] = await wait_handset(platform, http, recipient)
    assert (message["body"], message["flash"]) == (body, True)
    await wait_status(platform, http, batch["id"], recipient, "Delivered")

    await platform.send(http, to=[recipient], body=body, **{"from": FROM})
    second = (await wait_handset(platform, http, recipient, 2))[1]
    assert (second["body"], second["flash"]) == (body, False)


async def test_parts_limit_aborts_without_truncate_and_cuts_with_it(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    recipient = "+46701240001"
    body = "".join(f"Line {i:03d} of a long message. " for i in range(40))  # GSM, 7+ parts
    over = {"to": [recipient], "body": body, "from": FROM, "max_number_of_message_parts": 2}

    # As in XMS: accepted, never sent, Aborted with 411 (exceeded parts limit).
    assert (await dry_run(platform, http, **over))["per_recipient"][0]["number_of_parts"] == 8
    aborted = await platform.send(http, **over)
    report = await wait_status(platform, http, aborted["id"], recipient, "Aborted")
    assert (report["code"], report["number_of_message_parts"]) == (411, 8)

    preview = await dry_run(platform, http, **over, truncate_concat=True)
    assert preview["per_recipient"][0]["number_of_parts"] == 2
    batch = await platform.send(http, **over, truncate_concat=True)
    [message] = await wait_handset(platform, http, recipient)
    assert message["segments"] == 2
    # Two concatenated GSM parts carry 153 septets each.
    assert message["body"] == body[: 2 * 153]
    report = await wait_status(platform, http, batch["id"], recipient, "Delivered")
    assert report["number_of_message_parts"] == 2
