"""The /sandbox/v1 REST API over ASGI, against a running sandbox SMSC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from starlette.applications import Starlette

from tidings.core.encoding import decode, segment
from tidings.sandbox import Sandbox
from tidings.smpp import CommandStatus, CommandStatusError, EsmeClient
from tidings.smpp.constants import EsmClass, Npi, Ton
from tidings.smpp.pdu import SubmitSm

from .conftest import Inbox

HANDSET = "+46701234567"


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=sandbox.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
        yield client


async def send(client: EsmeClient, to: str, text: str, sender: str = "Shop", reference: int = 1) -> None:
    encoded = segment(text, reference=reference)
    for part in encoded.parts:
        await client.submit(SubmitSm(
            source_addr=sender, source_addr_ton=Ton.ALPHANUMERIC, destination_addr=to.lstrip("+"),
            dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN, esm_class=EsmClass.UDHI if encoded.udhi else 0,
            registered_delivery=1, data_coding=encoded.data_coding, short_message=part,
        ))


@pytest.mark.parametrize("path_number", ["+46701234567", "46701234567", "%2B46701234567"])
async def test_messages_listed_reassembled_and_decoded(
    sandbox: Sandbox, client: EsmeClient, http: httpx.AsyncClient, path_number: str,
) -> None:
    long_text = "Ünïcødé 😀 " * 20
    await send(client, HANDSET, "first")
    await send(client, HANDSET, long_text, reference=2)
    await sandbox.wait_for_messages(HANDSET, 2)
    response = await http.get(f"/sandbox/v1/handsets/{path_number}/messages")
    assert response.status_code == 200
    first, second = response.json()["messages"]
    assert first["body"] == "first" and first["encoding"] == "GSM" and first["segments"] == 1
    assert second["body"] == long_text and second["encoding"] == "UCS2" and second["segments"] == 4
    assert (second["from"], second["to"], second["flash"]) == ("Shop", HANDSET, False)
    assert second["received_at"].endswith("Z")
    assert datetime.fromisoformat(second["received_at"]).tzinfo is not None
    assert second["message_id"]


async def test_clear_messages(sandbox: Sandbox, client: EsmeClient, http: httpx.AsyncClient) -> None:
    await send(client, HANDSET, "bye")
    await sandbox.wait_for_messages(HANDSET, 1)
    assert (await http.delete(f"/sandbox/v1/handsets/{HANDSET}/messages")).status_code == 204
    assert (await http.get(f"/sandbox/v1/handsets/{HANDSET}/messages")).json() == {"messages": []}


async def test_get_and_put_handset(sandbox: Sandbox, client: EsmeClient, inbox: Inbox, http: httpx.AsyncClient) -> None:
    body = (await http.get("/sandbox/v1/handsets/46701234567")).json()
    assert body == {"number": HANDSET, "country": "SE", "valid": True, "reachable": True,
                    "line_type": "mobile", "capabilities": ["SMS"], "identities": {"SMS": HANDSET},
                    "ported": False, "carrier": None}
    response = await http.put(f"/sandbox/v1/handsets/{HANDSET}",
                              json={"reachable": False, "capabilities": ["sms", "RCS", "telegram"], "country": "no",
                                    "ported": True, "carrier": "Telia"})
    assert response.status_code == 200
    assert (response.json()["ported"], response.json()["carrier"]) == (True, "Telia")
    assert response.json()["capabilities"] == ["SMS", "RCS", "TELEGRAM"] and response.json()["country"] == "NO"
    assert response.json()["identities"] == {"SMS": HANDSET, "RCS": HANDSET, "TELEGRAM": HANDSET[1:]}
    assert sandbox.handset(HANDSET).reachable is False
    await send(client, HANDSET, "unreachable")
    [pdu] = await inbox.wait(1)
    assert b"stat:UNDELIV err:027" in pdu.short_message


async def test_landline_is_known_as_such(http: httpx.AsyncClient) -> None:
    body = (await http.get("/sandbox/v1/handsets/+4686781234")).json()
    assert (body["line_type"], body["capabilities"], body["reachable"]) == ("landline", [], True)


@pytest.mark.parametrize(("body", "field"), [
    ({"reachable": "yes"}, "reachable"), ({"line_type": "satellite"}, "line_type"),
    ({"capabilities": "SMS"}, "capabilities"), ({"country": "Sweden"}, "country"), ({"colour": "red"}, "colour"),
    ({"ported": 1}, "ported"), ({"carrier": ""}, "carrier"),
])
async def test_put_handset_validation(http: httpx.AsyncClient, body: dict[str, object], field: str) -> None:
    response = await http.put(f"/sandbox/v1/handsets/{HANDSET}", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field" and field in error["message"]


async def test_bad_number_and_bad_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/sandbox/v1/handsets/call-me/messages")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_number"
    response = await http.put(f"/sandbox/v1/handsets/{HANDSET}", content=b"{nope")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


async def test_mo_through_rest(sandbox: Sandbox, client: EsmeClient, inbox: Inbox, http: httpx.AsyncClient) -> None:
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET[1:]}/messages", json={"to": "+46700000000", "body": "STOP"})
    assert response.status_code == 202
    message_id = response.json()["message_id"]
    [pdu] = await inbox.wait(1)
    assert (pdu.source_addr, pdu.destination_addr, decode(pdu.short_message, pdu.data_coding)) == (
        HANDSET[1:], "46700000000", "STOP")
    sent = (await http.get(f"/sandbox/v1/handsets/{HANDSET}/sent")).json()["messages"]
    assert [(m["message_id"], m["to"], m["body"], m["from"]) for m in sent] == [
        (message_id, "+46700000000", "STOP", HANDSET)]


async def test_mo_validation(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages", json={"body": "no to"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_field"


async def test_mo_without_any_account_is_a_conflict() -> None:
    world = Sandbox(seed=1)
    app = Starlette(routes=world.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as http:
        response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages", json={"to": "x", "body": "y"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_account"


async def test_rules_over_rest(sandbox: Sandbox, client: EsmeClient, http: httpx.AsyncClient) -> None:
    response = await http.put("/sandbox/v1/rules/%2B4670", json={"latency_ms": [5, 10], "throttle_rate": 1})
    assert response.status_code == 200
    assert response.json()["latency_ms"] == {"min": 5, "max": 10}
    rules = (await http.get("/sandbox/v1/rules")).json()["rules"]
    assert [rule["prefix"] for rule in rules] == ["", "+4670"]
    assert rules[1]["throttle_rate"] == 1
    with pytest.raises(CommandStatusError) as info:
        await send(client, HANDSET, "x")
    assert info.value.command_status == CommandStatus.ESME_RTHROTTLED
    assert (await http.delete("/sandbox/v1/rules/4670")).status_code == 204
    assert (await http.delete("/sandbox/v1/rules/4670")).status_code == 404
    await send(client, HANDSET, "x")


@pytest.mark.parametrize("body", [{"failure_rate": 2}, {"latency_ms": [10, 5]}, {"speed": 1}, {"latency_ms": "fast"}])
async def test_rule_validation(http: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await http.put("/sandbox/v1/rules/46", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_rule"


async def test_default_rule_by_name(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    assert (await http.put("/sandbox/v1/rules/default", json={"latency_ms": 7})).status_code == 200
    assert sandbox.rules.match("+1555").latency_max_ms == 7


async def test_messages_on_an_app_need_its_platform_and_capability(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages",
                               json={"channel": "whatsapp", "to": "+46700000000", "body": "hi"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_channel"
    response = await http.post(f"/sandbox/v1/handsets/{HANDSET}/messages",
                               json={"channel": "whatsapp", "to": "+46700000000"})
    assert response.status_code == 400
