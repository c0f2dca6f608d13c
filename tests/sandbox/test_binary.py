"""Binary SMS through the sandbox SMSC, both ways: an 8-bit submit_sm reaches the handset with
its exact bytes and its header (ports …) in `GET …/messages` as BINARY; a handset's binary MO goes
out as deliver_sm with data_coding 0x04 (UDHI when there is a header), in concatenated parts when
long; the REST API checks what it is given."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tidings.core.encoding import Udh, split_udh_elements
from tidings.sandbox import Sandbox
from tidings.smpp import EsmeClient, MessageState, Tag
from tidings.smpp.constants import EsmClass, Npi, Ton
from tidings.smpp.pdu import SubmitSm
from tidings.smpp.sar import sar_tlvs

from .conftest import Inbox

HANDSET = "+46701234567"
PORTS = bytes.fromhex("06050415811581")  # UDHL 6, IE 0x05: 16-bit ports 5505 → 5505
DATA = bytes([0x00, 0x1B, 0x7F, 0x80, 0xC3, 0xFF]) + bytes(range(32))


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=sandbox.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def submit(client: EsmeClient, short_message: bytes, *, esm_class: int, data_coding: int = 0x04,
                 tlvs: dict[int, bytes] | None = None) -> str:
    response = await client.submit(SubmitSm(
        source_addr="Shop", source_addr_ton=Ton.ALPHANUMERIC, destination_addr=HANDSET[1:],
        dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN, esm_class=esm_class, registered_delivery=1,
        data_coding=data_coding, short_message=short_message, tlvs=tlvs or {},
    ))
    return response.message_id


async def test_binary_with_ports_reaches_the_handset_as_binary(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox, http: httpx.AsyncClient,
) -> None:
    message_id = await submit(client, PORTS + DATA, esm_class=EsmClass.UDHI)
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert (received.body, received.udh, received.encoding, received.segments) == (b64(DATA), PORTS.hex(), "BINARY", 1)
    [listed] = (await http.get(f"/sandbox/v1/handsets/{HANDSET}/messages")).json()["messages"]
    assert (listed["encoding"], listed["body"], listed["udh"], listed["message_id"]) == (
        "BINARY", b64(DATA), "06050415811581", message_id)
    assert base64.b64decode(listed["body"]) == DATA
    [receipt] = await inbox.wait(1)
    assert receipt.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id
    assert receipt.tlv_int(Tag.MESSAGE_STATE) == MessageState.DELIVERED
    assert f"text:{DATA[:10].hex()}" in receipt.short_message.decode("latin-1")


async def test_binary_without_a_header_and_text_beside_it(
    sandbox: Sandbox, client: EsmeClient, http: httpx.AsyncClient,
) -> None:
    await submit(client, DATA, esm_class=0, data_coding=0xF5)  # message class 1, 8-bit
    await submit(client, b"plain", esm_class=0, data_coding=0x00)
    await sandbox.wait_for_messages(HANDSET, 2)
    binary, text = (await http.get(f"/sandbox/v1/handsets/{HANDSET}/messages")).json()["messages"]
    assert (binary["encoding"], binary["body"], binary["udh"]) == ("BINARY", b64(DATA), "")
    assert (text["encoding"], text["body"]) == ("GSM", "plain")
    assert "udh" not in text


@pytest.mark.parametrize("numbering", ["udh", "sar"])
async def test_concatenated_binary_is_joined_keeping_the_ports(
    sandbox: Sandbox, client: EsmeClient, numbering: str,
) -> None:
    halves = (DATA, bytes(reversed(DATA)))
    for seq, half in enumerate(halves, 1):
        if numbering == "udh":
            await submit(client, bytes([11]) + PORTS[1:] + bytes([0, 3, 0x42, 2, seq]) + half, esm_class=EsmClass.UDHI)
        else:
            await submit(client, PORTS + half, esm_class=EsmClass.UDHI, tlvs=sar_tlvs(0x42, 2, seq))
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert (received.body, received.udh, received.segments) == (b64(b"".join(halves)), PORTS.hex(), 2)


async def test_a_handsets_binary_mo_goes_out_as_8_bit_data(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox, http: httpx.AsyncClient,
) -> None:
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET[1:]}/messages",
                               json={"to": "+46700000000", "binary": b64(DATA), "udh": "06050415811581"})
    assert response.status_code == 202, response.text
    message_id = response.json()["message_id"]
    [pdu] = await inbox.wait(1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr) == (HANDSET[1:], Ton.INTERNATIONAL,
                                                                            "46700000000")
    assert (pdu.data_coding, pdu.esm_class, pdu.short_message) == (0x04, EsmClass.UDHI, PORTS + DATA)
    sent = (await http.get(f"/sandbox/v1/handsets/{HANDSET}/sent")).json()["messages"]
    assert [(m["message_id"], m["encoding"], m["body"], m["udh"], m["segments"]) for m in sent] == [
        (message_id, "BINARY", b64(DATA), "06050415811581", 1)]

    await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages", json={"to": "+46700000000", "binary": b64(DATA)})
    pdus = await inbox.wait(2)
    assert (pdus[1].data_coding, pdus[1].esm_class, pdus[1].short_message) == (0x04, 0, DATA)


async def test_a_long_binary_mo_goes_in_concatenated_parts(sandbox: Sandbox, client: EsmeClient, inbox: Inbox,
                                                           http: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 2
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages",
                               json={"to": "+46700000000", "binary": b64(data), "udh": PORTS.hex()})
    assert response.status_code == 202
    pdus = await inbox.wait(4)
    joined = b""
    for seq, pdu in enumerate(pdus, 1):
        assert (pdu.data_coding, pdu.esm_class) == (0x04, EsmClass.UDHI)
        assert len(pdu.short_message) <= 140
        numbering, others, payload = split_udh_elements(pdu.short_message, pdu.esm_class)
        assert numbering is not None and numbering == Udh(numbering.reference, 4, seq)
        assert others == PORTS
        joined += payload
    assert joined == data


@pytest.mark.parametrize(("body", "message"), [
    ({"binary": "AAE"}, "'binary' must be standard Base64 with padding"),
    ({"binary": "-_8="}, "'binary' must be standard Base64 with padding"),
    ({"binary": 5}, "'binary' must be a Base64 string"),
    ({"binary": "AAE=", "udh": "07050415811581"}, "'udh' the first octet (UDHL, 7) must count the octets after it (6)"),
    ({"binary": "AAE=", "udh": "06 05"}, "'udh' must be hex digits, two per octet, its length octet first"),
    ({"binary": "AAE=", "udh": 6}, "'udh' must be hex digits, two per octet, its length octet first"),
    ({"binary": ""}, "'binary' must not be empty without a 'udh'"),
    ({"binary": "AAE=", "body": "hi"}, "give either 'body' (text) or 'binary' (Base64 data), not both"),
    ({"udh": "06050415811581"}, "'binary' must be a Base64 string"),
    ({"binary": b64(b"x" * 10_001)}, "'binary' must be at most 10000 octets"),
    ({"binary": b64(b"x" * 200), "udh": "8a7088" + "00" * 136},
     "cannot be sent as SMS: the header leaves no room for a payload"),
])
async def test_binary_mo_validation(client: EsmeClient, inbox: Inbox, http: httpx.AsyncClient,
                                    body: dict[str, object], message: str) -> None:
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages", json={"to": "+46700000000", **body})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_field", "message": message}
    assert inbox.pdus == []
