"""Checks of XMS `mt_binary` bodies (send, replace, dry run, update): Base64 payloads, user data
headers with their length octet, the 140-octet limit, the fields a binary batch may carry, and
an update that would change a batch's type."""

from __future__ import annotations

import base64

import pytest

from tidings.actions.batch_checks import (
    MT_BINARY,
    MtBinary,
    MtText,
    apply_update,
    check_send_rendered,
    check_update,
)
from tidings.config import Settings
from tidings.core.encoding import Encoding
from tidings.core.errors import RequestError

NOW = 1_700_000_000_000
SETTINGS = Settings()
PORTS = "06050415811581"  # UDHL 6, IE 0x05: 16-bit application ports
PAYLOAD = bytes(range(0x00, 0xF0, 0x11))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body(**changes: object) -> dict[str, object]:
    return {"type": "mt_binary", "to": ["+46700000001", "46700000002"], "from": "Shop",
            "body": b64(PAYLOAD), "udh": PORTS, **changes}


def refused(payload: object, *, kind: str = "mt_text", update: bool = False) -> RequestError:
    with pytest.raises(RequestError) as caught:
        if update:
            check_update(payload, SETTINGS, kind)
        else:
            check_send_rendered(payload, SETTINGS, NOW)
    assert caught.value.http_status == 400
    return caught.value


def test_a_binary_send_is_checked_and_rendered_one_part_each() -> None:
    binary, rendered = check_send_rendered(body(udh="0B0504158115810003AA0201", purpose="security",
                                                delivery_report="per_recipient", client_reference="r1",
                                                feedback_enabled=True, from_ton=5, from_npi=0), SETTINGS, NOW)
    assert isinstance(binary, MtBinary)
    assert binary.kind == MT_BINARY
    assert binary.to == ("+46700000001", "+46700000002")
    assert binary.body == b64(PAYLOAD)
    assert binary.udh == "0b0504158115810003aa0201"  # stored in lower case
    assert (binary.purpose, binary.delivery_report, binary.client_reference, binary.feedback_enabled) == (
        "security", "per_recipient", "r1", True)
    assert (binary.parameters, binary.flash_message, binary.max_number_of_message_parts, binary.truncate_concat,
            binary.collapse_key) == (None, False, None, None, None)
    assert [(r.recipient, r.body, r.encoding, r.parts) for r in rendered] == [
        ("+46700000001", b64(PAYLOAD), Encoding.BINARY, 1), ("+46700000002", b64(PAYLOAD), Encoding.BINARY, 1)]


def test_text_stays_text() -> None:
    text, rendered = check_send_rendered({"to": ["+46700000001"], "from": "Shop", "body": "AAE="}, SETTINGS, NOW)
    assert type(text) is MtText and text.kind == "mt_text"
    assert rendered[0].encoding is Encoding.GSM7


def test_an_empty_udh_is_no_header_but_something_must_be_sent() -> None:
    binary, _ = check_send_rendered(body(udh=""), SETTINGS, NOW)
    assert isinstance(binary, MtBinary) and binary.udh is None
    header_only, _ = check_send_rendered(body(body="", udh=PORTS), SETTINGS, NOW)
    assert isinstance(header_only, MtBinary) and header_only.body == ""
    assert refused(body(body="", udh="")).fields == {"body": "must not be empty when there is no udh"}


@pytest.mark.parametrize("raw", [
    "AAE",  # no padding
    "AAE=\n",  # a line break
    " AAE=",
    "-_8=",  # the URL-safe alphabet
    "QR==",  # bits after the last octet: not the standard form of any payload
    "AA==AA==",  # padding inside
    "not base64!",
])
def test_body_must_be_standard_base64_with_padding(raw: str) -> None:
    error = refused(body(body=raw))
    assert error.code == "syntax_invalid_parameter_format"
    assert error.text.startswith("body:")


def test_body_must_be_a_string() -> None:
    assert "body" in refused(body(body=["AAE="])).fields
    assert refused({k: v for k, v in body().items() if k != "body"}).code == "syntax_constraint_violation"


@pytest.mark.parametrize(("udh", "message"), [
    ("07050415811581", "the first octet (UDHL, 7) must count the octets after it (6)"),
    ("05050415811581", "the first octet (UDHL, 5) must count the octets after it (6)"),
    ("050415811581", "the information element at octet 1 runs past the header's end"),
    ("00", "has no information elements (send an empty udh for a message without one)"),
    ("0405081581", "the information element at octet 1 runs past the header's end"),
])
def test_udh_length_octet_and_elements(udh: str, message: str) -> None:
    error = refused(body(udh=udh))
    assert error.fields == {"udh": message}
    assert error.code == "syntax_constraint_violation"


@pytest.mark.parametrize("udh", ["0605041581158", "06 05 04 15 81 15 81", "0x06050415811581", "zz", "06050415811581\n"])
def test_udh_must_be_hex_digits(udh: str) -> None:
    error = refused(body(udh=udh))
    assert error.fields == {"udh": "must be hex digits, two per octet"}


def test_udh_is_required_and_a_string() -> None:
    missing = refused({k: v for k, v in body().items() if k != "udh"})
    assert missing.code == "syntax_constraint_violation" and "udh" in missing.fields
    assert "udh" in refused(body(udh=6)).fields


def test_body_and_udh_together_at_most_140_octets() -> None:
    check_send_rendered(body(body=b64(b"\xff" * 133)), SETTINGS, NOW)  # 7 + 133
    check_send_rendered(body(body=b64(b"\xff" * 140), udh=""), SETTINGS, NOW)
    error = refused(body(body=b64(b"\xff" * 134)))
    assert error.fields == {"body": "body and udh together are 141 octets, at most 140"}
    assert refused(body(body=b64(b"\xff" * 141), udh="")).fields == {
        "body": "body and udh together are 141 octets, at most 140"}


@pytest.mark.parametrize(("name", "value"), [
    ("parameters", {"name": {"default": "x"}}),
    ("flash_message", False),
    ("max_number_of_message_parts", 1),
    ("truncate_concat", True),
    ("collapse_key", "k"),
    ("colour", "red"),
])
def test_text_only_and_unknown_fields_are_refused(name: str, value: object) -> None:
    assert refused(body(**{name: value})).fields == {name: "unknown field"}


def test_other_types_are_refused() -> None:
    error = refused(body(type="mt_media"))
    assert error.fields == {"type": "must be mt_text or mt_binary, not 'mt_media'"}
    assert "type" in refused(body(type=7)).fields


def test_the_other_checks_apply_to_binary_too() -> None:
    assert "to[0]" in refused(body(to=["nope"])).fields
    assert "from" in refused(body(**{"from": ""})).fields
    assert "expire_at" in refused(body(expire_at="2000-01-01T00:00:00Z")).fields
    assert "purpose" in refused(body(purpose="gossip")).fields


# -- updates ---------------------------------------------------------------------------------


def binary_batch(**changes: object) -> MtBinary:
    batch, _ = check_send_rendered(body(**changes), SETTINGS, NOW)
    assert isinstance(batch, MtBinary)
    return batch


def test_an_update_cannot_change_the_type() -> None:
    to_binary = refused({"type": "mt_binary", "udh": PORTS, "body": b64(b"x")}, kind="mt_text", update=True)
    assert to_binary.fields == {
        "type": "the batch is mt_text: an update cannot change its type (replace the batch)"}
    to_text = refused({"type": "mt_text", "body": "hello"}, kind="mt_binary", update=True)
    assert to_text.fields == {
        "type": "the batch is mt_binary: an update cannot change its type (replace the batch)"}
    assert "type" in refused({"type": "mt_media"}, kind="mt_binary", update=True).fields


def test_a_binary_update_takes_the_binary_fields() -> None:
    change = check_update({"type": "mt_binary", "udh": "050003010201", "body": b64(b"\x01\x02"),
                           "to_add": ["+46700000003"], "purpose": "engagement"}, SETTINGS, "mt_binary")
    assert change.changes == {"udh": "050003010201", "body": b64(b"\x01\x02"), "purpose": "engagement"}
    assert change.to_add == ("+46700000003",)
    # Without a type, the batch's own.
    assert check_update({"udh": ""}, SETTINGS, "mt_binary").changes == {"udh": None}
    assert refused({"body": "hello"}, kind="mt_binary", update=True).code == "syntax_invalid_parameter_format"
    assert refused({"udh": "07050415811581"}, kind="mt_binary", update=True).fields == {
        "udh": "the first octet (UDHL, 7) must count the octets after it (6)"}
    for name in ("parameters", "flash_message", "truncate_concat", "max_number_of_message_parts"):
        assert refused({name: None}, kind="mt_binary", update=True).fields == {name: "unknown field"}
    # And a text batch has no header.
    assert refused({"udh": PORTS}, kind="mt_text", update=True).fields == {"udh": "unknown field"}


def test_an_updated_binary_batch_is_checked_whole() -> None:
    batch = binary_batch(body=b64(b"\xff" * 133))
    change = check_update({"udh": ""}, SETTINGS, "mt_binary")
    updated = apply_update(batch, change, batch.to, NOW)
    assert isinstance(updated, MtBinary) and updated.udh is None and updated.body == batch.body
    longer = check_update({"udh": "0b0504158115810003aa0201"}, SETTINGS, "mt_binary")
    with pytest.raises(RequestError) as caught:
        apply_update(batch, longer, batch.to, NOW)
    assert caught.value.fields == {"body": "body and udh together are 145 octets, at most 140"}
