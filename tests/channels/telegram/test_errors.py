"""Bot API refusals mapped onto the connector contract, against the twin and a dead port."""

from __future__ import annotations

import pytest

from tests.channels.telegram.conftest import BOT_ID, CHAT_ID, CREDENTIALS, HANDSET, Rig
from tidings.channels.contract import ConnectorContext
from tidings.channels.telegram import create
from tidings.channels.telegram.botapi import BotApiError, classify, error_body
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

TEXT = {"text_message": {"text": "hi"}}


async def test_chat_not_found_is_unreachable_and_permanent(rig: Rig) -> None:
    rig.sandbox.handset(HANDSET)  # no TELEGRAM capability
    capability = await rig.connector.capability(rig.message(TEXT))
    assert not capability.reachable and capability.reason == "Bad Request: chat not found"
    with pytest.raises(PermanentDeliveryError, match="chat not found") as caught:
        await rig.connector.send(rig.message(TEXT))
    assert caught.value.code == 400
    assert rig.sandbox.messages_for(HANDSET) == []


async def test_capability_is_reachable_for_a_telegram_user(rig: Rig) -> None:
    rig.telegram_handset()
    assert (await rig.connector.capability(rig.message(TEXT))).reachable


async def test_blocked_bot_is_permanent_403(rig: Rig) -> None:
    rig.telegram_handset()
    response = await rig.http.put(f"{rig.api}/console/bots/{BOT_ID}/blocked/{CHAT_ID}")
    assert response.json() == {"blocked": True}
    with pytest.raises(PermanentDeliveryError, match="bot was blocked by the user") as caught:
        await rig.connector.send(rig.message(TEXT))
    assert caught.value.code == 403


async def test_bot_cannot_start_a_conversation_when_the_twin_requires_start(rig: Rig) -> None:
    handset = rig.telegram_handset()
    await rig.http.put(f"{rig.api}/console/settings", json={"require_start": True})
    with pytest.raises(PermanentDeliveryError, match="can't initiate conversation"):
        await rig.connector.send(rig.message(TEXT))
    await rig.twin.handset_sends(handset, str(BOT_ID), body="/start", postback=None)
    assert (await rig.connector.send(rig.message(TEXT))).channel_message_id == f"{CHAT_ID}:2"


async def test_flood_limit_is_transient_with_retry_after(rig: Rig) -> None:
    rig.telegram_handset()
    await rig.http.post(f"{rig.api}/console/faults", json={"error_code": 429, "retry_after": 7})
    with pytest.raises(TransientDeliveryError, match="Too Many Requests: retry after 7") as caught:
        await rig.connector.send(rig.message(TEXT))
    assert caught.value.retry_after == 7.0
    assert (await rig.connector.send(rig.message(TEXT))).channel_message_id == f"{CHAT_ID}:1"


async def test_server_errors_are_transient(rig: Rig) -> None:
    rig.telegram_handset()
    await rig.http.post(f"{rig.api}/console/faults", json={"error_code": 502})
    with pytest.raises(TransientDeliveryError):
        await rig.connector.send(rig.message(TEXT))


async def test_a_revoked_token_is_an_auth_error(rig: Rig) -> None:
    rig.telegram_handset()
    rig.twin.revoke(CREDENTIALS["telegram_credentials"]["token"])  # type: ignore[index]
    with pytest.raises(ChannelAuthError, match="401 Unauthorized"):
        await rig.connector.send(rig.message(TEXT))


async def test_missing_token_is_an_auth_error(rig: Rig) -> None:
    with pytest.raises(ChannelAuthError):
        await rig.connector.send(rig.message(TEXT, credentials={"channel": "TELEGRAM"}))


async def test_nothing_to_send_is_permanent(rig: Rig) -> None:
    rig.telegram_handset()
    with pytest.raises(PermanentDeliveryError, match="no text"):
        await rig.connector.send(rig.message({"text_message": {"text": "  "}}))


async def test_platform_unreachable_is_transient() -> None:
    import httpx

    async with httpx.AsyncClient(timeout=1.0) as http:
        connector = create(ConnectorContext("http://127.0.0.1:9", http, lambda: 0, "http://127.0.0.1:1"))
        from tidings.channels.contract import OutboundMessage

        message = OutboundMessage("m", "p", "a", "TELEGRAM", CHAT_ID, TEXT, CREDENTIALS)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await connector.send(message)
        assert (await connector.capability(message)).reachable  # let the send decide
        with pytest.raises(TransientDeliveryError):
            await connector.configure_app("a", CREDENTIALS)


@pytest.mark.parametrize(("code", "description", "outcome"), [
    (400, "Bad Request: chat not found", "permanent"),
    (403, "Forbidden: bot was blocked by the user", "permanent"),
    (403, "Forbidden: user is deactivated", "permanent"),
    (401, "Unauthorized", "auth"),
    (404, "Not Found", "auth"),
    (429, "Too Many Requests: retry after 5", "transient"),
    (500, "Internal Server Error", "transient"),
    (409, "Conflict: terminated by other getUpdates request", "permanent"),
])
def test_classify(code: int, description: str, outcome: str) -> None:
    assert classify(code, description) == outcome
    mapped = BotApiError(code, description, 5).mapped()
    expected = {"auth": ChannelAuthError, "transient": TransientDeliveryError, "permanent": PermanentDeliveryError}
    assert type(mapped) is expected[outcome]


def test_error_body_shape() -> None:
    assert error_body(429, "retry after 3", retry_after=3) == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3}}
    assert error_body(401, "") == {"ok": False, "error_code": 401, "description": "Unauthorized"}
