from __future__ import annotations

import pytest

from tidings.core import encoding
from tidings.core.encoding import (
    Encoding,
    TooManyParts,
    Udh,
    alphabet,
    carries_data,
    count_segments,
    decode,
    detect,
    encode_text,
    is_binary_coding,
    segment,
    segment_binary,
    split_udh,
    split_udh_elements,
    udh_error,
)

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"
EMOJI = "\U0001f600"


def test_public_names() -> None:
    assert set(encoding.__all__) == {
        "EncodedMessage", "Encoding", "SegmentCount", "TooManyParts", "Udh", "alphabet", "count_segments",
        "decode", "detect", "encode_text", "segment", "split_udh", "carries_data", "is_binary_coding",
        "segment_binary", "split_udh_elements", "udh_error",
    }


def test_basic_table_is_the_whole_default_alphabet_in_code_order() -> None:
    assert len(BASIC) == 127
    payload = encode_text(BASIC, 0x00)
    assert list(payload) == [code for code in range(128) if code != 0x1B]
    assert decode(payload, 0x00) == BASIC


def test_extension_table_round_trip() -> None:
    payload = encode_text(EXTENSION, 0x00)
    assert payload == bytes([0x1B, 0x0A, 0x1B, 0x14, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x2F,
                             0x1B, 0x3C, 0x1B, 0x3D, 0x1B, 0x3E, 0x1B, 0x40, 0x1B, 0x65])
    assert decode(payload, 0x00) == EXTENSION


def test_unknown_extension_code_shows_the_basic_character() -> None:
    assert decode(bytes([0x1B, 0x41]), 0x00) == "A"


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello", Encoding.GSM7), (BASIC + EXTENSION, Encoding.GSM7), ("", Encoding.GSM7),
    ("Привет", Encoding.UCS2), ("café ç", Encoding.UCS2), (EMOJI, Encoding.UCS2), ("\x1b", Encoding.UCS2),
])
def test_detect(text: str, expected: Encoding) -> None:
    assert detect(text) is expected


def test_extension_chars_count_two_septets() -> None:
    assert count_segments("€" * 80).units == 160
    assert count_segments("€" * 80).parts == 1
    assert count_segments("€" * 80 + "a").parts == 2
    assert count_segments("a" * 159 + "{").parts == 2


@pytest.mark.parametrize(("text", "encoding_", "parts", "units"), [
    ("a" * 160, Encoding.GSM7, 1, 160),
    ("a" * 161, Encoding.GSM7, 2, 161),
    ("a" * 306, Encoding.GSM7, 2, 306),
    ("a" * 307, Encoding.GSM7, 3, 307),
    ("я" * 70, Encoding.UCS2, 1, 70),
    ("я" * 71, Encoding.UCS2, 2, 71),
    ("я" * 134, Encoding.UCS2, 2, 134),
    ("я" * 135, Encoding.UCS2, 3, 135),
    ("", Encoding.GSM7, 1, 0),
])
def test_boundaries(text: str, encoding_: Encoding, parts: int, units: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.parts, count.units) == (encoding_, parts, units)
    assert len(segment(text, reference=1).parts) == parts


def test_single_part_has_no_udh() -> None:
    message = segment("Hello", reference=7)
    assert message.parts == [b"Hello"]
    assert (message.data_coding, message.udhi, message.encoding) == (0x00, False, Encoding.GSM7)
    ucs2 = segment("Привет", reference=7)
    assert ucs2.parts == ["Привет".encode("utf-16-be")]
    assert (ucs2.data_coding, ucs2.udhi) == (0x08, False)


def test_multipart_gsm_udh_and_sizes() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(400))
    message = segment(text, reference=0x1A2)
    assert message.udhi
    assert [len(part) for part in message.parts] == [6 + 153, 6 + 153, 6 + 94]
    for seq, part in enumerate(message.parts, 1):
        assert part[:6] == bytes([5, 0, 3, 0xA2, 3, seq])
    assert "".join(decode(split_udh(p, 0x40)[1], 0x00) for p in message.parts) == text


def test_escape_pair_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    message = segment(text, reference=1)
    assert len(message.parts) == 2
    first = split_udh(message.parts[0], 0x40)[1]
    assert len(first) == 152
    assert first[-1] != 0x1B
    assert split_udh(message.parts[1], 0x40)[1] == bytes([0x1B, 0x65]) + b"b" * 10


def test_emoji_surrogate_pairs_never_split() -> None:
    text = "xy" + EMOJI * 40
    count = count_segments(text)
    assert (count.encoding, count.units, count.parts) == (Encoding.UCS2, 82, 2)
    message = segment(text, reference=9)
    payloads = [split_udh(part, 0x40)[1] for part in message.parts]
    assert len(payloads[0]) == 66 * 2
    for payload in payloads:
        assert payload.decode("utf-16-be")  # would raise on a lone surrogate
    assert "".join(decode(p, 0x08) for p in payloads) == text


def test_too_many_parts_raises_unless_truncating() -> None:
    text = "".join(str(i % 10) for i in range(500))
    with pytest.raises(TooManyParts) as info:
        segment(text, reference=1, max_parts=2)
    assert (info.value.parts, info.value.max_parts) == (4, 2)
    truncated = segment(text, reference=1, max_parts=2, truncate=True)
    assert len(truncated.parts) == 2
    assert all(part[4] == 2 for part in truncated.parts)
    assert "".join(decode(split_udh(p, 0x40)[1], 0) for p in truncated.parts) == text[:306]


def test_truncate_to_one_part_uses_the_single_part_size() -> None:
    message = segment("z" * 200, reference=1, max_parts=1, truncate=True)
    assert message.parts == [b"z" * 160]
    assert not message.udhi
    assert segment("z" * 160, reference=1, max_parts=1).parts == [b"z" * 160]


def test_more_than_255_parts_is_too_many() -> None:
    with pytest.raises(TooManyParts):
        segment("a" * (153 * 255 + 1), reference=1)


def test_split_udh_8_bit_reference() -> None:
    assert split_udh(bytes([5, 0, 3, 0x42, 2, 1]) + b"hi", 0x40) == (Udh(0x42, 2, 1), b"hi")


def test_split_udh_16_bit_reference_among_other_elements() -> None:
    header = bytes([0x24, 1, 0x01, 0x08, 4, 0x12, 0x34, 3, 2, 0x25, 1, 0x00])
    assert split_udh(bytes([len(header)]) + header + b"body", 0x43) == (Udh(0x1234, 3, 2), b"body")


def test_split_udh_without_concat_element_strips_the_header() -> None:
    assert split_udh(bytes([3, 0x24, 1, 0x01]) + b"x", 0x40) == (None, b"x")


def test_split_udh_ignores_header_without_udhi_bit() -> None:
    raw = bytes([5, 0, 3, 1, 2, 1]) + b"x"
    assert split_udh(raw, 0x00) == (None, raw)


def test_split_udh_leaves_an_impossible_header() -> None:
    raw = bytes([40, 0, 3])
    assert split_udh(raw, 0x40) == (None, raw)


PORTS = bytes.fromhex("06050415811581")  # UDHL 6, IE 0x05: 16-bit ports 5505 → 5505


def test_split_udh_elements_keeps_what_is_not_concatenation() -> None:
    raw = bytes.fromhex("0b0504158115810003420201") + b"\x00\xff"
    assert split_udh_elements(raw, 0x40) == (Udh(0x42, 2, 1), PORTS, b"\x00\xff")
    # Concatenation first, 16-bit reference, language shift kept too.
    raw = bytes.fromhex("0f08041234030205041581158124010f") + b"x"
    assert split_udh_elements(raw, 0x40) == (Udh(0x1234, 3, 2), bytes.fromhex("0905041581158124010f"), b"x")


def test_split_udh_elements_of_a_header_with_only_concatenation_or_none() -> None:
    assert split_udh_elements(bytes([5, 0, 3, 7, 2, 2]) + b"ab", 0x40) == (Udh(7, 2, 2), b"", b"ab")
    assert split_udh_elements(PORTS + b"ab", 0x00) == (None, b"", PORTS + b"ab")  # no UDHI: all payload
    assert split_udh_elements(PORTS + b"ab", 0x40) == (None, PORTS, b"ab")
    assert split_udh_elements(bytes([40, 5, 4]), 0x40) == (None, b"", bytes([40, 5, 4]))  # impossible header


def test_split_udh_elements_keeps_a_malformed_tail() -> None:
    raw = bytes([6, 0, 3, 1, 2, 1, 0x70]) + b"p"  # one stray octet after the concatenation element
    assert split_udh_elements(raw, 0x40) == (Udh(1, 2, 1), bytes([1, 0x70]), b"p")
    raw = bytes([4, 0x05, 9, 1, 2]) + b"p"  # an element longer than the header
    assert split_udh_elements(raw, 0x40) == (None, bytes([4, 0x05, 9, 1, 2]), b"p")


@pytest.mark.parametrize(("udh", "error"), [
    (PORTS, None),
    (bytes.fromhex("0b0504158115810003420201"), None),
    (bytes.fromhex("050003420201"), None),
    (b"", "must not be empty"),
    (bytes.fromhex("07050415811581"), "the first octet (UDHL, 7) must count the octets after it (6)"),
    (bytes.fromhex("0505041581"), "the first octet (UDHL, 5) must count the octets after it (4)"),
    (bytes.fromhex("00"), "has no information elements (send an empty udh for a message without one)"),
    (bytes.fromhex("0405051581"), "the information element at octet 1 runs past the header's end"),
    (bytes.fromhex("0705041581158100"), "the information element at octet 7 runs past the header's end"),
])
def test_udh_error(udh: bytes, error: str | None) -> None:
    assert udh_error(udh) == error


def test_carries_data() -> None:
    assert carries_data(PORTS)
    assert not carries_data(bytes.fromhex("03240101"))  # a language shift only says how text is read
    assert not carries_data(bytes.fromhex("06240101250102"))
    assert carries_data(bytes.fromhex("0724010105021581"))
    assert carries_data(bytes([1, 0x70]))  # a malformed tail
    assert not carries_data(b"")


@pytest.mark.parametrize(("data_coding", "binary"), [
    (0x04, True), (0x02, True), (0xF4, True), (0xF5, True), (0xF6, True), (0x14, True), (0x15, True), (0x34, True),
    (0x00, False), (0x01, False), (0x03, False), (0x08, False), (0x10, False), (0x18, False), (0xF0, False),
    (0xF1, False),
])
def test_is_binary_coding(data_coding: int, binary: bool) -> None:
    assert is_binary_coding(data_coding) is binary


def test_segment_binary_one_part_when_it_fits() -> None:
    assert segment_binary(b"\x01" * 133, PORTS, reference=9) == [PORTS + b"\x01" * 133]
    assert segment_binary(b"\x01" * 140, b"", reference=9) == [b"\x01" * 140]


def test_segment_binary_parts_carry_the_elements_and_concatenation() -> None:
    payload = (bytes(range(256)) * 3)[:600]
    parts = segment_binary(payload, PORTS, reference=0x1FF)
    room = 140 - 1 - 6 - 5
    assert len(parts) == -(-len(payload) // room) == 5
    joined = b""
    for seq, part in enumerate(parts, 1):
        assert len(part) <= 140
        udh, others, body = split_udh_elements(part, 0x40)
        assert udh == Udh(0xFF, 5, seq)
        assert others == PORTS
        joined += body
    assert joined == payload
    assert segment_binary(b"\x00" * 200, b"", reference=1)[0][:6] == bytes([5, 0, 3, 1, 2, 1])


def test_segment_binary_too_many_parts() -> None:
    with pytest.raises(TooManyParts):
        segment_binary(b"x" * (134 * 255 + 1), b"", reference=1)


@pytest.mark.parametrize(("payload", "data_coding", "text"), [
    (b"plain", 0x01, "plain"),
    ("café".encode("latin-1"), 0x03, "café"),
    ("Привет".encode("utf-16-be"), 0x08, "Привет"),
    ("Привет".encode("utf-16-be"), 0x18, "Привет"),
    (bytes([0x1B, 0x65, 0x00]), 0x10, "€@"),
    ("ñ".encode("latin-1"), 0x42, "ñ"),
])
def test_decode_data_codings(payload: bytes, data_coding: int, text: str) -> None:
    assert decode(payload, data_coding) == text


@pytest.mark.parametrize(("text", "data_coding"), [("Hi €", 0x00), ("Привет 😀", 0x08), ("café", 0x03), ("ok", 0x01)])
def test_encode_text_round_trip(text: str, data_coding: int) -> None:
    assert decode(encode_text(text, data_coding), data_coding) == text


@pytest.mark.parametrize(("data_coding", "expected"), [
    (0x00, 0x00), (0x01, 0x01), (0x03, 0x03), (0x08, 0x08), (0x10, 0x00), (0x18, 0x08), (0x11, 0x00),
    (0xF0, 0x00), (0xF4, 0x04),
])
def test_alphabet_of_message_class_codings(data_coding: int, expected: int) -> None:
    assert alphabet(data_coding) == expected



# GSM 03.38 by the book, one character at a time: the codec's table-driven passes must agree.
CODES = {char: code for code, char in enumerate(BASIC[:27] + "\x1b" + BASIC[27:])}
EXTENSION_CODES = dict(zip(EXTENSION, (0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65), strict=True))
SHOWN = BASIC[:27] + " " + BASIC[27:]  # the escape code, where nothing follows it, shows as a space


def _reference_units(text: str) -> int:
    if detect(text) is Encoding.GSM7:
        return sum(2 if char in EXTENSION else 1 for char in text)
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def _reference_encode(text: str) -> bytes:
    out = bytearray()
    for char in text:
        out += bytes((0x1B, EXTENSION_CODES[char])) if char in EXTENSION else bytes((CODES.get(char, CODES["?"]),))
    return bytes(out)


def _reference_decode(payload: bytes) -> str:
    by_code = {code: char for char, code in EXTENSION_CODES.items()}
    out, escaped = [], False
    for code in (octet & 0x7F for octet in payload):
        if escaped:
            escaped = False
            out.append(by_code.get(code) or SHOWN[code])
        elif code == 0x1B:
            escaped = True
        else:
            out.append(SHOWN[code])
    return "".join(out) + (" " if escaped else "")


def test_table_driven_codec_matches_the_per_character_definition() -> None:
    """Counting, encoding and decoding run as C-level table passes when they can; on random texts
    (GSM with and without extension characters, Latin-1 outside GSM, emoji, a lone surrogate) and
    random payloads (escapes, bytes above 0x7F) they give what the per-character definition gives."""
    import random

    rnd = random.Random(3)
    pool = BASIC + EXTENSION + "`êçı" + EMOJI + "한" + "\ud800"
    for _ in range(3000):
        text = "".join(rnd.choice(pool) for _ in range(rnd.randint(0, 300)))
        if rnd.random() < 0.5:
            text = "".join(char for char in text if char in BASIC or char in EXTENSION)
        assert count_segments(text).units == _reference_units(text)
        assert encode_text(text, 0x00) == _reference_encode(text)
        if detect(text) is Encoding.GSM7:
            assert decode(encode_text(text, 0x00), 0x00) == text
        payload = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 120)))
        assert decode(payload, 0x00) == _reference_decode(payload)
    assert decode(b"\x1b\x1b\x41", 0x00) == " A"  # a second escape: reserved, shown as a space
