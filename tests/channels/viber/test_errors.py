"""Viber statuses mapped onto the connector contract, against the twin and a dead port."""

from __future__ import annotations

import httpx
import pytest

from tests.channels.viber.conftest import CREDENTIALS, HANDSET, TOKEN, USER_ID, Rig
from tidings.channels.contract import ConnectorContext, OutboundMessage
from tidings.channels.viber import create
from tidings.channels.viber.connector import ViberApiError
from tidings.channels.viber.restapi import Status, classify
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

TEXT = {"text_message": {"text": "hi"}}


async def test_not_subscribed_is_permanent_6(rig: Rig) -> None:
    rig.sandbox.handset(HANDSET)  # no VIBER
    assert (await rig.connector.capability(rig.message(TEXT))).reachable  # no lookup before sending
    with pytest.raises(PermanentDeliveryError, match="notSubscribed") as caught:
        await rig.connector.send(rig.message(TEXT))
    assert caught.value.code == Status.RECEIVER_NOT_SUBSCRIBED


async def test_a_user_who_unsubscribed_cannot_be_sent_to_until_they_write(rig: Rig) -> None:
    handset = rig.viber_handset()
    response = await rig.http.put(f"{rig.api}/console/accounts/{rig.account.account_id}/unsubscribed/{USER_ID}")
    assert response.json() == {"unsubscribed": True}
    with pytest.raises(PermanentDeliveryError):
        await rig.connector.send(rig.message(TEXT))
    await rig.twin.handset_sends(handset, rig.account.uri, body="hi again", postback=None)
    assert (await rig.connector.send(rig.message(TEXT))).channel_message_id


async def test_rate_limit_is_transient(rig: Rig) -> None:
    rig.viber_handset()
    await rig.http.post(f"{rig.api}/console/faults", json={"status": 12})
    with pytest.raises(TransientDeliveryError, match="tooManyRequests") as caught:
        await rig.connector.send(rig.message(TEXT))
    assert caught.value.retry_after == 5.0
    assert (await rig.connector.send(rig.message(TEXT))).channel_message_id


async def test_http_5xx_is_transient(rig: Rig) -> None:
    rig.viber_handset()
    await rig.http.post(f"{rig.api}/console/faults", json={"http_status": 503})
    with pytest.raises(TransientDeliveryError, match="503"):
        await rig.connector.send(rig.message(TEXT))


async def test_bad_token_is_an_auth_error(rig: Rig) -> None:
    rig.viber_handset()
    rig.twin.revoke(TOKEN)
    with pytest.raises(ChannelAuthError, match="invalidAuthToken"):
        await rig.connector.send(rig.message(TEXT))
    with pytest.raises(ChannelAuthError):
        await rig.connector.configure_app("A", CREDENTIALS)
    with pytest.raises(ChannelAuthError):
        await rig.connector.send(rig.message(TEXT, credentials={"channel": "VIBER"}))


async def test_no_webhook_is_transient_until_configured(rig: Rig) -> None:
    rig.viber_handset()
    other = "0123456789abcdef-0123456789abcdef"
    credentials = {"channel": "VIBER", "static_token": {"token": other}}
    with pytest.raises(TransientDeliveryError, match="webhookNotSet"):
        await rig.connector.send(rig.message(TEXT, credentials=credentials))


async def test_nothing_to_send_is_permanent(rig: Rig) -> None:
    with pytest.raises(PermanentDeliveryError, match="no text"):
        await rig.connector.send(rig.message({"text_message": {"text": ""}}))


async def test_platform_unreachable_is_transient() -> None:
    async with httpx.AsyncClient(timeout=1.0) as http:
        connector = create(ConnectorContext("http://127.0.0.1:9", http, lambda: 0, "http://127.0.0.1:1"))
        message = OutboundMessage("m", "p", "a", "VIBER", USER_ID, TEXT, CREDENTIALS)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await connector.send(message)
        with pytest.raises(TransientDeliveryError):
            await connector.configure_app("a", CREDENTIALS)


@pytest.mark.parametrize(("status", "outcome"), [
    (Status.RECEIVER_NOT_REGISTERED, "permanent"), (Status.RECEIVER_NOT_SUBSCRIBED, "permanent"),
    (Status.RECEIVER_NO_SUITABLE_DEVICE, "permanent"), (Status.BAD_DATA, "permanent"),
    (Status.INVALID_AUTH_TOKEN, "auth"), (Status.PUBLIC_ACCOUNT_SUSPENDED, "auth"),
    (Status.TOO_MANY_REQUESTS, "transient"), (Status.WEBHOOK_NOT_SET, "transient"), (99, "transient"),
])
def test_classify(status: int, outcome: str) -> None:
    assert classify(status) == outcome
    expected = {"auth": ChannelAuthError, "transient": TransientDeliveryError, "permanent": PermanentDeliveryError}
    assert type(ViberApiError(status, "x").mapped()) is expected[outcome]
