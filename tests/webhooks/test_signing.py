"""The signature scheme, checked against the official SDK's own validation."""

from __future__ import annotations

import pytest
from sinch import SinchClient
from sinch.domains.authentication.sinch_events.v1.authentication_validation import (
    calculate_sinch_event_signature,
    compute_signed_data,
)
from sinch.domains.sms.sinch_events.v1 import SmsSinchEvent

from tidings.webhooks import signing

SECRET = "s3cr3t-webhook-key"
BODY = b'{"type":"mo_text","id":"01HX","from":"+46701234567","to":"12345","body":"h\xc3\xa9j \xe2\x82\xac"}'
NOW_MS = 1_714_564_800_999


def sdk_events(secret: str = SECRET) -> SmsSinchEvent:
    client = SinchClient(key_id="k", key_secret="s", project_id="p")
    return client.sms.sinch_events(secret)


def test_the_sdk_accepts_our_signature_for_raw_bytes_and_text() -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS)
    events = sdk_events()
    assert events.validate_authentication_header(headers, BODY)
    assert events.validate_authentication_header(headers, BODY.decode())
    # Headers as a receiver's framework might present them: any case, plus the content type.
    shouted = {k.upper(): v for k, v in headers.items()} | {"Content-Type": "application/json"}
    assert events.validate_authentication_header(shouted, BODY)


def test_signature_matches_the_sdk_formula_over_body_nonce_and_seconds() -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS, nonce="01HXNONCE")
    assert headers[signing.NONCE_HEADER] == "01HXNONCE"
    assert headers[signing.TIMESTAMP_HEADER] == "1714564800"  # epoch seconds, truncated
    expected = calculate_sinch_event_signature(
        compute_signed_data(BODY.decode(), "01HXNONCE", "1714564800"), SECRET
    )
    assert headers[signing.SIGNATURE_HEADER] == expected


def test_every_request_gets_a_fresh_nonce() -> None:
    nonces = {signing.sign(SECRET, BODY, NOW_MS)[signing.NONCE_HEADER] for _ in range(50)}
    assert len(nonces) == 50


@pytest.mark.parametrize("tamper", ["body", "secret", "nonce", "timestamp", "missing"])
def test_the_sdk_and_verify_refuse_a_tampered_request(tamper: str) -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS)
    body, secret = BODY, SECRET
    if tamper == "body":
        body = BODY.replace(b"+46701234567", b"+46701234568")
    elif tamper == "secret":
        secret = SECRET + "x"
    elif tamper == "nonce":
        headers[signing.NONCE_HEADER] += "0"
    elif tamper == "timestamp":
        headers[signing.TIMESTAMP_HEADER] = str(int(headers[signing.TIMESTAMP_HEADER]) + 1)
    else:
        del headers[signing.SIGNATURE_HEADER]
    assert not sdk_events(secret).validate_authentication_header(headers, body)
    assert not signing.verify(secret, body, headers)


def test_verify_accepts_what_sign_produces_with_any_header_case() -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS)
    assert signing.verify(SECRET, BODY, headers)
    assert signing.verify(SECRET, BODY, {k.title(): v for k, v in headers.items()})


def test_verify_enforces_the_allowed_clock_skew_only_when_given_the_time() -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS)
    assert signing.verify(SECRET, BODY, headers, now_ms=NOW_MS + 299_000)
    assert signing.verify(SECRET, BODY, headers, now_ms=NOW_MS - 299_000)
    assert not signing.verify(SECRET, BODY, headers, now_ms=NOW_MS + 301_000)
    assert not signing.verify(SECRET, BODY, headers, now_ms=NOW_MS + 61_000, max_skew_seconds=60)
    assert signing.verify(SECRET, BODY, headers)  # replay window not checked without a time


def test_verify_refuses_a_timestamp_that_is_not_a_number_when_checking_age() -> None:
    headers = signing.sign(SECRET, BODY, NOW_MS) | {signing.TIMESTAMP_HEADER: "yesterday"}
    headers[signing.SIGNATURE_HEADER] = signing.signature(
        SECRET, BODY, headers[signing.NONCE_HEADER], "yesterday"
    )
    assert signing.verify(SECRET, BODY, headers)
    assert not signing.verify(SECRET, BODY, headers, now_ms=NOW_MS)
