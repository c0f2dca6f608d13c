"""A handset's reply goes back to the sender as it was sent: a national number (TON 2) that the
handset shows as written comes back to the ESME as TON 2, not as an international number made of
the same digits; an international or alphanumeric sender as its display says. Kept across a
restart with the rest of the sandbox's state."""

from __future__ import annotations

from pathlib import Path

from tidings.core.encoding import decode
from tidings.sandbox import Sandbox
from tidings.smpp import EsmeClient
from tidings.smpp.constants import Npi, Ton
from tidings.smpp.pdu import DeliverSm, SubmitSm

from .conftest import PASSWORD, SEED, SYSTEM_ID, Inbox

HANDSET = "+46701234567"
NATIONAL = "0701234567"


async def reply_to_a_national_sender(world: Sandbox, inbox: Inbox, text: str, count: int) -> DeliverSm:
    await world.send_mo(HANDSET, NATIONAL, text)
    return (await inbox.wait(count))[-1]


async def test_a_reply_to_a_national_sender_goes_back_national(tmp_path: Path) -> None:
    world = Sandbox(seed=SEED, data_dir=str(tmp_path))
    world.add_account(SYSTEM_ID, PASSWORD)
    await world.start()
    world.set_rule("", latency_ms=0)
    inbox = Inbox()
    client = EsmeClient("127.0.0.1", world.port, system_id=SYSTEM_ID, password=PASSWORD, on_deliver_sm=inbox)
    await client.start()
    try:
        await client.submit(SubmitSm(
            source_addr=NATIONAL, source_addr_ton=Ton.NATIONAL, source_addr_npi=Npi.ISDN,
            destination_addr=HANDSET[1:], dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN,
            short_message=b"from the front desk"))
        [shown] = await world.wait_for_messages(HANDSET, 1)
        assert shown.sender == NATIONAL
        await world.send_mo(HANDSET, "+46700000000", "to an international sender")
        international = (await inbox.wait(1))[-1]
        assert (international.destination_addr, international.dest_addr_ton) == ("46700000000", Ton.INTERNATIONAL)
        reply = await reply_to_a_national_sender(world, inbox, "see you", 2)
        assert (reply.destination_addr, reply.dest_addr_ton, reply.dest_addr_npi) == (NATIONAL, Ton.NATIONAL, Npi.ISDN)
        assert decode(reply.short_message, reply.data_coding) == "see you"
    finally:
        await client.aclose(1.0)
        await world.stop()

    again = Sandbox(seed=SEED, data_dir=str(tmp_path))
    again.add_account(SYSTEM_ID, PASSWORD)
    await again.start()
    inbox = Inbox()
    client = EsmeClient("127.0.0.1", again.port, system_id=SYSTEM_ID, password=PASSWORD, on_deliver_sm=inbox)
    await client.start()
    try:
        reply = await reply_to_a_national_sender(again, inbox, "after the restart", 1)
        assert (reply.destination_addr, reply.dest_addr_ton) == (NATIONAL, Ton.NATIONAL)
    finally:
        await client.aclose(1.0)
        await again.stop()
