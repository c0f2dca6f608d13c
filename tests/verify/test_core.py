"""The pure parts of verification: codes, flash-call caller ids, signing, secret wrapping, statuses."""

from __future__ import annotations

import base64
import re

import pytest

from tidings.verify import codes, signing, wrap
from tidings.verify.model import FINAL, Status, can_transition


def test_codes_use_the_alphabet_and_length() -> None:
    seen = {codes.generate(6, "AB") for _ in range(200)}
    assert all(len(c) == 6 and set(c) <= {"A", "B"} for c in seen)
    assert len(seen) > 20  # random, not constant
    with pytest.raises(ValueError):
        codes.generate(2)
    with pytest.raises(ValueError):
        codes.generate(6, "AA")


def test_code_hash_is_keyed_and_bound_to_the_verification() -> None:
    h = codes.hash_code(b"k1", "v1", "1234")
    assert "1234" not in h
    assert codes.matches(b"k1", "v1", "1234", h)
    assert not codes.matches(b"k2", "v1", "1234", h)
    assert not codes.matches(b"k1", "v2", "1234", h)
    assert not codes.matches(b"k1", "v1", "1235", h)


def test_flash_cli_and_filter() -> None:
    cli = codes.flash_cli("+4610100", "5678")
    assert re.fullmatch(codes.cli_filter("+4610100", 4), cli)
    assert not re.fullmatch(codes.cli_filter("+4610100", 4), "+4610100567")
    assert codes.code_from_cli("+4610100", 4, cli) == "5678"
    assert codes.code_from_cli("+4610100", 4, "4610100 5678") == "5678"
    assert codes.code_from_cli("+4610100", 4, "+4699900") is None
    assert codes.code_from_cli("+4610100", 4, "+46101005678999") is None


def test_signature_matches_the_documented_scheme() -> None:
    secret = base64.b64encode(b"0123456789abcdef").decode()
    body = b'{"a":1}'
    text = signing.string_to_sign("POST", body, "application/json; charset=UTF-8", "2026-01-01T00:00:00+00:00",
                                  "/verification/v1/verifications")
    md5 = base64.b64encode(__import__("hashlib").md5(body).digest()).decode()
    assert text == ("POST\n" + md5 + "\napplication/json; charset=UTF-8\nx-timestamp:2026-01-01T00:00:00+00:00\n"
                    "/verification/v1/verifications")
    assert signing.string_to_sign("GET", b"", "", "t", "/p") == "GET\n\n\nx-timestamp:t\n/p"
    sig = signing.signature(secret, "POST", body, "application/json; charset=UTF-8", "2026-01-01T00:00:00+00:00",
                            "/verification/v1/verifications")
    assert len(base64.b64decode(sig)) == 32
    assert signing.parse_authorization(f"Application key:{sig}") == ("key", sig)
    assert signing.parse_authorization("Bearer x") is None
    assert signing.parse_timestamp("2026-01-01T00:00:00Z") == signing.parse_timestamp("2026-01-01T00:00:00+00:00")
    assert signing.parse_timestamp("yesterday") is None


def test_wrapped_secret_round_trips_and_is_bound_to_its_key() -> None:
    secret = base64.b64encode(b"s" * 16).decode()
    wrapped = wrap.wrap(b"server", "app-1", secret)
    assert secret not in wrapped
    assert wrap.unwrap(b"server", "app-1", wrapped) == secret
    with pytest.raises(wrap.WrapError):
        wrap.unwrap(b"server", "app-2", wrapped)
    with pytest.raises(wrap.WrapError):
        wrap.unwrap(b"other", "app-1", wrapped)
    with pytest.raises(wrap.WrapError):
        wrap.unwrap(b"server", "app-1", "garbage")


def test_only_pending_moves() -> None:
    assert all(can_transition(Status.PENDING, s) for s in FINAL)
    assert not any(can_transition(a, b) for a in FINAL for b in Status)
