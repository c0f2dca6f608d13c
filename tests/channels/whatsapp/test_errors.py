"""Graph errors → the connector contract, against the twin (faults) and a dead address."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.channels.whatsapp.conftest import CREDENTIALS, Rig
from tidings.channels.contract import ConnectorContext
from tidings.channels.whatsapp import create
from tidings.channels.whatsapp.graph import ErrorCode, classify, verify_signature, sign
from tidings.core.errors import ChannelAuthError, PermanentDeliveryError, TransientDeliveryError


@pytest.mark.parametrize(("code", "status", "outcome"), [
    (ErrorCode.RATE_LIMIT_HIT, 400, "transient"), (ErrorCode.PAIR_RATE_LIMIT, 400, "transient"),
    (ErrorCode.SPAM_RATE_LIMIT, 400, "transient"), (ErrorCode.SERVICE_UNAVAILABLE, 503, "transient"),
    (ErrorCode.TOO_MANY_CALLS, 400, "transient"), (None, 502, "transient"), (None, 429, "transient"),
    (ErrorCode.ACCESS_TOKEN_EXPIRED, 401, "auth"), (ErrorCode.PERMISSION_DENIED, 403, "auth"), (None, 401, "auth"),
    (ErrorCode.UNDELIVERABLE, 400, "permanent"), (ErrorCode.RE_ENGAGEMENT, 400, "permanent"),
    (ErrorCode.TEMPLATE_DOES_NOT_EXIST, 404, "permanent"), (ErrorCode.INVALID_PARAMETER, 400, "permanent"),
])
def test_classify(code: int | None, status: int, outcome: str) -> None:
    assert classify(code, status) == outcome


def test_signature() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("s3cret", body, header)
    assert not verify_signature("s3cret", body + b" ", header)
    assert not verify_signature("other", body, header)
    assert not verify_signature("", body, sign("", body))
    assert not verify_signature("s3cret", body, header.replace("sha256=", "sha1="))


@pytest.mark.parametrize(("code", "error", "retry_after"), [
    (ErrorCode.RATE_LIMIT_HIT, TransientDeliveryError, 1.0),
    (ErrorCode.PAIR_RATE_LIMIT, TransientDeliveryError, 6.0),
    (ErrorCode.SOMETHING_WENT_WRONG, TransientDeliveryError, 1.0),
    (ErrorCode.SERVICE_UNAVAILABLE, TransientDeliveryError, 1.0),
    (ErrorCode.ACCESS_TOKEN_EXPIRED, ChannelAuthError, None),
    (ErrorCode.UNDELIVERABLE, PermanentDeliveryError, None),
])
async def test_twin_faults_map(rig: Rig, code: int, error: type[Exception], retry_after: float | None) -> None:
    await rig.handset_writes("hi")
    response = await rig.http.post(f"{rig.graph}/console/faults", json={"code": code, "count": 1})
    assert response.status_code == 200
    with pytest.raises(error) as caught:
        await rig.connector.send(rig.message({"text_message": {"text": "x"}}))
    assert f"#{code}" in str(caught.value) or code == ErrorCode.ACCESS_TOKEN_EXPIRED
    if retry_after is not None:
        assert isinstance(caught.value, TransientDeliveryError) and caught.value.retry_after == retry_after
    if isinstance(caught.value, PermanentDeliveryError):
        assert caught.value.code == code
    # the fault was used up: the retry goes through
    result = await rig.connector.send(rig.message({"text_message": {"text": "x"}}))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")


async def test_wrong_token_is_channel_auth_error(rig: Rig) -> None:
    await rig.handset_writes("hi")
    bad = {**CREDENTIALS, "static_bearer": {**CREDENTIALS["static_bearer"], "token": "wrong"}}
    message = rig.message({"text_message": {"text": "x"}})
    with pytest.raises(ChannelAuthError, match="OAuth"):
        await rig.connector.send(type(message)(**{**message.__dict__, "credentials": bad}))
    with pytest.raises(ChannelAuthError, match="claimed_identity"):
        await rig.connector.send(type(message)(**{**message.__dict__, "credentials": {"channel": "WHATSAPP"}}))


async def test_template_errors_are_permanent(rig: Rig) -> None:
    rig.whatsapp_handset()
    def template(name: str, params: dict[str, str]) -> dict:
        return {"template_message": {"channel_template": {"WHATSAPP": {"template_id": name, "language_code": "en_US",
                                                                       "parameters": params}}}}
    opted = {"whatsapp_opt_in": True}
    with pytest.raises(PermanentDeliveryError) as missing:
        await rig.connector.send(rig.message(template("no_such", {}), last_inbound_ms=None, metadata=opted))
    assert missing.value.code == ErrorCode.TEMPLATE_DOES_NOT_EXIST
    with pytest.raises(PermanentDeliveryError) as count:
        await rig.connector.send(rig.message(template("order_update", {"body[1]text": "Bob",
                                                                       "button[2]url[1]text": "1"}),
                                             last_inbound_ms=None, metadata=opted))
    assert count.value.code == ErrorCode.TEMPLATE_PARAM_COUNT
    assert "does not match the expected number of params (2)" in str(count.value)


async def test_unreachable_platform_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    async with httpx.AsyncClient(timeout=1.0) as http:
        connector = create(ConnectorContext(base_url=f"http://127.0.0.1:{port}", http=http, clock=lambda: 10**12,
                                            public_url="http://127.0.0.1:1"))
        from tidings.channels.contract import OutboundMessage
        message = OutboundMessage("m", "p", "a", "WHATSAPP", "+46701234567", {"text_message": {"text": "x"}},
                                  CREDENTIALS, last_inbound_ms=10**12 - 1000)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await connector.send(message)
