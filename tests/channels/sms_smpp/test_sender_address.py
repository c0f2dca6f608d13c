"""The submit_sm's source address: detected from the sender (E.164, short code, alphanumeric),
or with the type of number and numbering plan the batch set (XMS `from_ton`, `from_npi`)."""

from __future__ import annotations

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.smpp.constants import Npi, Ton
from tidings.smpp.pdu import SubmitSm


def source_of(sender: str, ton: int | None = None, npi: int | None = None,
              binary: bool = False) -> tuple[str, int, int]:
    message = OutboundSms(1, sender, "+46701112233", "hello", sender_ton=ton, sender_npi=npi)
    if binary:
        message.payload, message.udh = b"\x01\x02", b""
    [pdu] = [SubmitSm.decode(p.encode()) for p in submit_pdus(message, 7)]
    return pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi


@pytest.mark.parametrize(("sender", "expected"), [
    ("+46700000000", ("46700000000", Ton.INTERNATIONAL, Npi.ISDN)),
    ("72345", ("72345", Ton.NETWORK_SPECIFIC, Npi.UNKNOWN)),
    ("0701234567", ("0701234567", Ton.INTERNATIONAL, Npi.ISDN)),  # ten digits: read as international
    ("Tidings", ("Tidings", Ton.ALPHANUMERIC, Npi.UNKNOWN)),
])
def test_detected_from_the_sender(sender: str, expected: tuple[str, int, int]) -> None:
    assert source_of(sender) == expected


@pytest.mark.parametrize(("sender", "ton", "npi", "expected"), [
    ("0701234567", Ton.NATIONAL, Npi.ISDN, ("0701234567", Ton.NATIONAL, Npi.ISDN)),
    ("0701234567", Ton.NATIONAL, None, ("0701234567", Ton.NATIONAL, Npi.ISDN)),  # the plan follows the type
    ("+46700000000", Ton.UNKNOWN, None, ("46700000000", Ton.UNKNOWN, Npi.ISDN)),  # no '+' on the wire
    ("+46700000000", None, Npi.LAND_MOBILE, ("46700000000", Ton.INTERNATIONAL, Npi.LAND_MOBILE)),
    ("72345", Ton.ABBREVIATED, None, ("72345", Ton.ABBREVIATED, Npi.UNKNOWN)),
    ("Tidings", Ton.ALPHANUMERIC, Npi.ISDN, ("Tidings", Ton.ALPHANUMERIC, Npi.ISDN)),  # as set, even odd pairs
])
def test_as_the_batch_set_them(sender: str, ton: int | None, npi: int | None, expected: tuple[str, int, int]) -> None:
    assert source_of(sender, ton, npi) == expected
    assert source_of(sender, ton, npi, binary=True) == expected
