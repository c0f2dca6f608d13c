"""Binary SMS end to end, in both profiles. Out: an mt_binary batch with an application-port UDH
goes over SMPP as 8-bit data and reaches the sandbox handset with its exact bytes and header, and
is Delivered by the carrier's receipt. In: a handset's binary MO (one part, or two joined) arrives
as an mo_binary inbound with its exact bytes and header, through the XMS inbounds API and as a
signed mo_binary callback the official SDK parses; its Base64 is never read as a keyword."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
from sinch.domains.sms.models.v1.shared.mo_binary_message import MOBinaryMessage
from sqlalchemy import select

from tidings.api.testing import sdk_client
from tidings.store.schema import deliveries, submissions
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import handset_messages, parse_signed, set_plan_callback, wait_handset, wait_status, wait_until

PORTS = "06050415811581"  # UDHL 6, IE 0x05: 16-bit application ports 5505 → 5505
OURS = "+46700004000"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def handset_sends(platform: Platform, http: httpx.AsyncClient, handset: str, **message: Any) -> str:
    response = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{handset.lstrip('+')}/messages",
                               json={"to": OURS, **message})
    assert response.status_code == 202, response.text
    return response.json()["message_id"]  # type: ignore[no-any-return]


async def inbound_list(platform: Platform, http: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        page = (await http.get(platform.xms("/inbounds"), headers=platform.auth)).json()
        return page["inbounds"] if page["count"] >= count else None

    return await wait_until(check, f"{count} inbound(s)")  # type: ignore[no-any-return]


async def test_binary_batch_reaches_the_handset_byte_for_byte_and_is_delivered(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    data = bytes([0x00, 0x1B, 0x0A, 0x0D, 0x7F, 0x80, 0xC3, 0xA9, 0xFF]) + bytes(range(0, 256, 2))  # 137 octets
    handset = "+46701340001"
    batch = await platform.send(http, type="mt_binary", to=[handset], body=b64(data[:133]), udh=PORTS,
                                delivery_report="per_recipient", **{"from": "+46700000000"})
    assert (batch["type"], batch["udh"]) == ("mt_binary", PORTS)
    [received] = await wait_handset(platform, http, handset)
    assert (received["encoding"], received["udh"], received["segments"]) == ("BINARY", PORTS, 1)
    assert base64.b64decode(received["body"]) == data[:133]
    report = await wait_status(platform, http, batch["id"], handset, "Delivered")
    assert (report["code"], report["encoding"], report["number_of_message_parts"]) == (0, "BINARY", 1)
    async with platform.ctx.db.read() as conn:
        [part] = (await conn.execute(
            select(submissions.c.status, submissions.c.parts).select_from(
                submissions.join(deliveries, deliveries.c.id == submissions.c.delivery_id))
            .where(deliveries.c.batch_id == batch["id"]))).all()
    assert tuple(part) == ("Delivered", 1)  # the SMSC's receipt, matched to the one submit_sm


async def test_binary_mo_arrives_as_an_inbound_and_a_signed_callback(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    receiver = WebhookReceiver("/hooks/mo")
    await receiver.start()
    try:
        await set_plan_callback(platform, receiver.url)
        handset = "+46701340002"
        await platform.send(http, to=[handset], body="Send us your contact card", **{"from": OURS})
        await wait_handset(platform, http, handset)
        card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Lind;Asa\r\nEND:VCARD\r\n" + bytes([0x00, 0xFF])
        await handset_sends(platform, http, handset, binary=b64(card), udh="06050423f40000")

        [inbound] = await inbound_list(platform, http, 1)
        assert (inbound["type"], inbound["from"], inbound["to"], inbound["udh"]) == (
            "mo_binary", handset, OURS, "06050423f40000")
        assert base64.b64decode(inbound["body"]) == card
        sdk = sdk_client("service_plan", platform.base_url, platform.creds).sms
        fetched = await asyncio.to_thread(sdk.inbounds.get, inbound["id"])
        assert isinstance(fetched, MOBinaryMessage)
        assert (fetched.body, fetched.udh) == (inbound["body"], "06050423f40000")

        await receiver.wait_for(1)
        [event] = parse_signed(platform, receiver)
        assert isinstance(event, MOBinaryMessage)
        assert (event.type, event.id, event.from_, event.to, event.udh) == (
            "mo_binary", inbound["id"], handset, OURS, "06050423f40000")
        assert base64.b64decode(event.body) == card
    finally:
        await receiver.stop()


async def test_a_concatenated_binary_mo_is_joined_to_its_exact_bytes(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    handset = "+46701340003"
    await platform.send(http, to=[handset], body="Send the file", **{"from": OURS})
    await wait_handset(platform, http, handset)
    data = bytes(reversed(range(256))) * 2  # 512 octets: 4 parts of at most 128 behind the ports and concatenation
    short = data[:200]  # 2 parts
    await handset_sends(platform, http, handset, binary=b64(short), udh=PORTS)
    sent = (await http.get(f"{platform.base_url}/sandbox/v1/handsets/{handset[1:]}/sent")).json()["messages"]
    assert sent[-1]["segments"] == 2
    [inbound] = await inbound_list(platform, http, 1)
    assert (inbound["type"], inbound["udh"]) == ("mo_binary", PORTS)
    assert base64.b64decode(inbound["body"]) == short
    # Without a header, in four parts.
    await handset_sends(platform, http, handset, binary=b64(data))
    newest = (await inbound_list(platform, http, 2))[0]
    assert (newest["type"], newest["udh"]) == ("mo_binary", "")
    assert base64.b64decode(newest["body"]) == data


async def test_binary_data_is_never_a_keyword(platform: Platform, http: httpx.AsyncClient) -> None:
    """A binary MO whose Base64 spells STOP opts nobody out and gets no confirmation."""
    handset = "+46701340004"
    await platform.send(http, to=[handset], body="Welcome", **{"from": OURS})
    await wait_handset(platform, http, handset)
    await handset_sends(platform, http, handset, binary="STOP", udh="")
    [inbound] = await inbound_list(platform, http, 1)
    assert (inbound["type"], inbound["body"]) == ("mo_binary", "STOP")
    later = await platform.send(http, to=[handset], body="Your order shipped", **{"from": OURS})
    await wait_status(platform, http, later["id"], handset, "Delivered")
    assert [m["body"] for m in await handset_messages(platform, http, handset)] == ["Welcome", "Your order shipped"]
