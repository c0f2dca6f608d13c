"""Send API errors → the connector contract, against the twin (faults), bad tokens and a dead address."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.channels.messenger.conftest import CREDENTIALS, Rig
from tidings.channels.contract import ConnectorContext, OutboundMessage
from tidings.channels.messenger import create
from tidings.channels.messenger.connector import credentials_of
from tidings.channels.messenger.graph import (
    ErrorCode,
    Subcode,
    classify,
    error_body,
    sign,
    verify_signature,
)
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


@pytest.mark.parametrize(("code", "subcode", "status", "outcome"), [
    (ErrorCode.TEMPORARY_SEND_FAILURE, None, 500, "transient"), (ErrorCode.RATE_LIMIT, None, 400, "transient"),
    (ErrorCode.TOO_MANY_CALLS, Subcode.TOO_MANY_SENDS, 400, "transient"), (ErrorCode.API_SERVICE, None, 500, "transient"),
    (None, None, 502, "transient"), (None, None, 429, "transient"),
    (ErrorCode.ACCESS_TOKEN, None, 401, "auth"), (ErrorCode.PAGES_MESSAGING_PERMISSION, None, 400, "auth"),
    (ErrorCode.PERMISSION_DENIED, None, 403, "auth"), (None, None, 401, "auth"),
    (ErrorCode.PERMISSION_DENIED, Subcode.OUTSIDE_WINDOW, 400, "permanent"),
    (ErrorCode.USER_UNAVAILABLE, Subcode.USER_UNAVAILABLE, 400, "permanent"),
    (ErrorCode.INVALID_PARAMETER, Subcode.NO_MATCHING_USER, 400, "permanent"),
    (ErrorCode.TEMPORARILY_BLOCKED, None, 400, "permanent"),
])
def test_classify(code: int | None, subcode: int | None, status: int, outcome: str) -> None:
    assert classify(code, subcode, status) == outcome


def test_error_body_and_signature() -> None:
    assert error_body(551, 1545041, fbtrace_id="T") == {"error": {
        "message": "(#551) This person isn't available right now.", "type": "OAuthException", "code": 551,
        "fbtrace_id": "T", "error_subcode": 1545041}}
    body = b'{"object":"page"}'
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("s3cret", body, header)
    assert not verify_signature("s3cret", body + b" ", header)
    assert not verify_signature("other", body, header)
    assert not verify_signature("", body, sign("", body))


def test_credentials() -> None:
    assert credentials_of(CREDENTIALS) == ("104512345678901", "EAAGpagetoken")
    assert credentials_of({"static_token": {"token": "t"}, "claimed_identity": "9"}) == ("9", "t")
    assert credentials_of({"static_token": {"token": "t"}}) == (None, "t")
    with pytest.raises(ChannelAuthError):
        credentials_of({"static_token": {}})


@pytest.mark.parametrize(("code", "subcode", "error", "retry_after"), [
    (ErrorCode.TEMPORARY_SEND_FAILURE, None, TransientDeliveryError, 1.0),
    (ErrorCode.RATE_LIMIT, None, TransientDeliveryError, 5.0),
    (ErrorCode.TOO_MANY_CALLS, Subcode.TOO_MANY_SENDS, TransientDeliveryError, 5.0),
    (ErrorCode.ACCESS_TOKEN, None, ChannelAuthError, None),
    (ErrorCode.USER_UNAVAILABLE, Subcode.USER_UNAVAILABLE, PermanentDeliveryError, None),
])
async def test_twin_faults_map(rig: Rig, code: int, subcode: int | None, error: type[Exception],
                               retry_after: float | None) -> None:
    await rig.handset_writes("hi")
    response = await rig.http.post(f"{rig.graph}/console/faults", json={"code": code, "subcode": subcode})
    assert response.status_code == 200
    with pytest.raises(error) as caught:
        await rig.connector.send(rig.message({"text_message": {"text": "x"}}))
    assert f"#{code}" in str(caught.value) or code == ErrorCode.ACCESS_TOKEN
    if retry_after is not None:
        assert isinstance(caught.value, TransientDeliveryError) and caught.value.retry_after == retry_after
    if isinstance(caught.value, PermanentDeliveryError):
        assert caught.value.code == code
    result = await rig.connector.send(rig.message({"text_message": {"text": "x"}}))  # the fault was used up
    assert result.channel_message_id.startswith("m_")


async def test_wrong_token_is_an_auth_error(rig: Rig) -> None:
    await rig.handset_writes("hi")
    wrong = {**CREDENTIALS, "static_token": {**CREDENTIALS["static_token"], "token": "stolen"}}
    message = rig.message({"text_message": {"text": "x"}})
    with pytest.raises(ChannelAuthError, match="access token"):
        await rig.connector.send(OutboundMessage(**{**message.__dict__, "credentials": wrong}))
    no_page = {"static_token": {"token": "EAAGpagetoken"}, "callback_secret": "s"}
    result = await rig.connector.send(OutboundMessage(**{**message.__dict__, "credentials": no_page}))
    assert result.details["page_id"] is None  # sent through /me/messages


async def test_unreachable_platform_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with httpx.AsyncClient(timeout=1.0) as http:
        connector = create(ConnectorContext(base_url=f"http://127.0.0.1:{port}", http=http, clock=lambda: 10**13,
                                            public_url="http://127.0.0.1:1"))
        message = OutboundMessage(message_id="m", project_id="p", app_id="a", channel="MESSENGER", identity="psid-1",
                                  content={"text_message": {"text": "x"}}, credentials=CREDENTIALS,
                                  last_inbound_ms=10**13 - 1000)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await connector.send(message)
        assert not connector.register_webhook
        await connector.configure_app("a", CREDENTIALS)  # real platform: nothing to register
