"""SMS text encoding: GSM 03.38 / UCS-2 detection, segment counting, segmentation and decoding.

Owns the mapping between a message's text and the bytes SMPP carries in `short_message`:

- `detect` / `count_segments`: which alphabet a text needs and how many parts it takes
  (160/153 septets for GSM 7-bit, 70/67 UTF-16 code units for UCS-2).
- `segment`: the `short_message` payloads, each part of a long message prefixed with the
  concatenation user data header (UDH) `05 00 03 ref total seq`.
- `split_udh` / `decode`: the reverse, for what an SMSC or ESME sends us.
- Binary messages (8-bit data, XMS `mt_binary` / `mo_binary`): `udh_error` checks a user data
  header as a client writes it (its length octet first), `split_udh_elements` keeps a received
  header's elements other than concatenation, `segment_binary` cuts a long payload into
  concatenated parts.

Written here rather than taken from a library because no maintained Python codec does what SMPP
needs: GSM text in SMPP is *unpacked* (one septet per octet, extension characters as 0x1B + code,
data_coding 0x00), while the codecs that exist pack septets for the air interface or ignore the
extension table, and none splits on character boundaries (an escape pair or a UTF-16 surrogate
pair must never straddle two parts) or builds and reads concatenation UDHs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "EncodedMessage",
    "Encoding",
    "SegmentCount",
    "TooManyParts",
    "Udh",
    "alphabet",
    "carries_data",
    "count_segments",
    "decode",
    "detect",
    "encode_text",
    "is_binary_coding",
    "segment",
    "segment_binary",
    "split_udh",
    "split_udh_elements",
    "udh_error",
]


class Encoding(enum.StrEnum):
    GSM7 = "GSM"
    UCS2 = "UCS2"
    BINARY = "BINARY"
    """8-bit data (data_coding 0x04): an XMS `mt_binary` batch, one part per recipient."""


# GSM 03.38 default alphabet, code points 0x00-0x7F; 0x1B is the escape to the extension table.
_ESCAPE = 0x1B
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_CODE = {char: code for code, char in enumerate(_BASIC) if code != _ESCAPE}
_GSM_CHAR = dict(enumerate(_BASIC))
_EXTENSION_CHAR = {code: char for char, code in _EXTENSION.items()}
_GSM_ALL = frozenset(_GSM_CODE) | frozenset(_EXTENSION)
# The same tables for C-level passes (`str.translate`, `bytes.translate`): a text of GSM characters
# encodes as each character's code(s) in a Latin-1 string, a payload without escapes decodes as
# its Latin-1 reading translated. A Python step per character cost ~0.1 µs a character, and every
# message is counted when accepted, encoded when sent, and decoded by the SMSC twin.
_GSM_ENCODING = {ord(char): chr(_ESCAPE) + chr(code) for char, code in _EXTENSION.items()} | {
    ord(char): chr(code) for char, code in _GSM_CODE.items()}
_GSM_DECODING = {code: char for code, char in enumerate(_BASIC)}
_SEPTETS = bytes(octet & 0x7F for octet in range(256))

GSM_SINGLE = 160
GSM_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
MAX_CONCAT_PARTS = 255
"""The 8-bit total field of the concatenation header."""

DATA_CODING_GSM = 0x00
DATA_CODING_IA5 = 0x01
DATA_CODING_LATIN1 = 0x03
DATA_CODING_BINARY = 0x04
DATA_CODING_BINARY_UNSPECIFIED = 0x02
DATA_CODING_UCS2 = 0x08
MAX_SHORT_MESSAGE = 140
"""Octets of user data in one SMS (3GPP 23.040): the UDH, its length octet included, and the payload."""

UDHI = 0x40
"""esm_class bit: short_message starts with a user data header."""
IE_CONCAT_8 = 0x00
IE_CONCAT_16 = 0x08
IE_LANGUAGE_SINGLE_SHIFT = 0x24
IE_LANGUAGE_LOCKING_SHIFT = 0x25
_TEXT_ONLY_IES = frozenset({IE_LANGUAGE_SINGLE_SHIFT, IE_LANGUAGE_LOCKING_SHIFT})
"""Elements that only choose the tables a GSM text is read with: they leave a message text."""

_BMP_END = 0xFFFF


class TooManyParts(ValueError):
    """The text needs more parts than allowed."""

    def __init__(self, parts: int, max_parts: int) -> None:
        super().__init__(f"message needs {parts} parts, at most {max_parts} allowed")
        self.parts = parts
        self.max_parts = max_parts


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    parts: int
    units: int
    """Septets (GSM 7-bit) or UTF-16 code units (UCS-2)."""


@dataclass(frozen=True)
class EncodedMessage:
    encoding: Encoding
    data_coding: int
    parts: list[bytes]
    udhi: bool
    """True when every part starts with a concatenation UDH (set esm_class 0x40)."""


@dataclass(frozen=True)
class Udh:
    reference: int
    total: int
    sequence: int


def detect(text: str) -> Encoding:
    """GSM7 when every character is in the default alphabet or its extension table, else UCS2."""
    if _GSM_ALL.issuperset(text):  # one C-level pass; a per-character generator cost ~2 % of the loop
        return Encoding.GSM7
    return Encoding.UCS2


def _units(text: str, encoding: Encoding) -> int:
    """Septets (GSM 7-bit: an extension character takes two) or UTF-16 code units (UCS-2)."""
    if encoding is Encoding.GSM7:
        return len(text) + sum(map(text.count, _EXTENSION))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _cost(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if char in _EXTENSION else 1
    return 2 if ord(char) > _BMP_END else 1


def _limits(encoding: Encoding) -> tuple[int, int]:
    return (GSM_SINGLE, GSM_MULTI) if encoding is Encoding.GSM7 else (UCS2_SINGLE, UCS2_MULTI)


def _chunks(text: str, encoding: Encoding, size: int) -> Iterator[str]:
    """Split text into runs of at most `size` units without splitting a character's units."""
    start, used = 0, 0
    for index, char in enumerate(text):
        cost = _cost(char, encoding)
        if used + cost > size:
            yield text[start:index]
            start, used = index, 0
        used += cost
    yield text[start:]


def count_segments(text: str) -> SegmentCount:
    """Alphabet, number of parts and total units; an empty text is one (empty) part."""
    encoding = detect(text)
    units = _units(text, encoding)
    single, multi = _limits(encoding)
    parts = 1 if units <= single else sum(1 for _ in _chunks(text, encoding, multi))
    return SegmentCount(encoding, parts, units)


def _encode_gsm(text: str) -> bytes:
    if _GSM_ALL.issuperset(text):
        return text.translate(_GSM_ENCODING).encode("latin-1")
    out = bytearray()  # characters the alphabet lacks become '?'
    for char in text:
        code = _GSM_CODE.get(char)
        if code is not None:
            out.append(code)
        elif char in _EXTENSION:
            out += bytes((_ESCAPE, _EXTENSION[char]))
        else:
            out.append(_GSM_CODE["?"])
    return bytes(out)


def _encode(text: str, encoding: Encoding) -> bytes:
    return _encode_gsm(text) if encoding is Encoding.GSM7 else text.encode("utf-16-be")


def segment(text: str, *, reference: int, max_parts: int | None = None, truncate: bool = False) -> EncodedMessage:
    """The `short_message` payloads for `text`.

    GSM 7-bit: data_coding 0x00, unpacked septets. UCS-2: data_coding 0x08, UTF-16BE. A text
    longer than one part is split into parts each prefixed with `05 00 03 ref total seq`
    (`reference` is taken modulo 256). With more parts than `max_parts` (or than 255), `truncate`
    keeps the first `max_parts` parts' worth of text; otherwise `TooManyParts` is raised.
    """
    encoding = detect(text)
    data_coding = DATA_CODING_GSM if encoding is Encoding.GSM7 else DATA_CODING_UCS2
    single, multi = _limits(encoding)
    limit = min(max_parts, MAX_CONCAT_PARTS) if max_parts is not None else MAX_CONCAT_PARTS
    if limit < 1:
        raise ValueError("max_parts must be at least 1")
    if _units(text, encoding) <= single:
        return EncodedMessage(encoding, data_coding, [_encode(text, encoding)], udhi=False)
    chunks = list(_chunks(text, encoding, multi))
    if len(chunks) > limit:
        if not truncate:
            raise TooManyParts(len(chunks), limit)
        if limit == 1:
            first = next(_chunks(text, encoding, single))
            return EncodedMessage(encoding, data_coding, [_encode(first, encoding)], udhi=False)
        chunks = chunks[:limit]
    ref = reference & 0xFF
    total = len(chunks)
    parts = [bytes((5, IE_CONCAT_8, 3, ref, total, seq)) + _encode(chunk, encoding) for seq, chunk in enumerate(chunks, 1)]
    return EncodedMessage(encoding, data_coding, parts, udhi=True)


def split_udh(short_message: bytes, esm_class: int) -> tuple[Udh | None, bytes]:
    """(concatenation info, payload without the UDH).

    Only looks for a UDH when esm_class has the UDHI bit (0x40). Understands the 8-bit (IE 0x00)
    and 16-bit (IE 0x08) reference concatenation elements and skips any other element. A UDH with
    no concatenation element gives None; a header longer than the message is left in place.
    """
    if not esm_class & UDHI or not short_message:
        return None, short_message
    header_length = short_message[0]
    if header_length + 1 > len(short_message):
        return None, short_message
    header = short_message[1 : 1 + header_length]
    payload = short_message[1 + header_length :]
    udh: Udh | None = None
    position = 0
    while position + 2 <= len(header):
        iei, length = header[position], header[position + 1]
        data = header[position + 2 : position + 2 + length]
        position += 2 + length
        if len(data) < length:
            break
        if iei == IE_CONCAT_8 and length == 3:
            udh = Udh(reference=data[0], total=data[1], sequence=data[2])
        elif iei == IE_CONCAT_16 and length == 4:
            udh = Udh(reference=int.from_bytes(data[:2], "big"), total=data[2], sequence=data[3])
    return udh, payload


def split_udh_elements(short_message: bytes, esm_class: int) -> tuple[Udh | None, bytes, bytes]:
    """(concatenation info, the header's other elements, payload without the UDH).

    `split_udh` that keeps what it skips: the elements other than concatenation (application
    port addressing, SIM toolkit headers …) as a header of their own, its length octet (UDHL)
    first, in the order they came; `b""` when there are none. A malformed tail of the header is
    kept as it came rather than lost.
    """
    if not esm_class & UDHI or not short_message:
        return None, b"", short_message
    header_length = short_message[0]
    if header_length + 1 > len(short_message):
        return None, b"", short_message
    header = short_message[1 : 1 + header_length]
    payload = short_message[1 + header_length :]
    udh: Udh | None = None
    others = bytearray()
    position = 0
    while position < len(header):
        if position + 2 > len(header):
            others += header[position:]
            break
        iei, length = header[position], header[position + 1]
        end = position + 2 + length
        if end > len(header):
            others += header[position:]
            break
        if iei == IE_CONCAT_8 and length == 3:
            udh = Udh(reference=header[position + 2], total=header[position + 3], sequence=header[position + 4])
        elif iei == IE_CONCAT_16 and length == 4:
            udh = Udh(reference=int.from_bytes(header[position + 2 : position + 4], "big"),
                      total=header[position + 4], sequence=header[position + 5])
        else:
            others += header[position:end]
        position = end
    return udh, (bytes((len(others),)) + others) if others else b"", payload


def udh_error(udh: bytes) -> str | None:
    """What is wrong with a user data header written with its length octet first (`06 05 04 15
    81 15 81`: UDHL 6, then IE 0x05, 16-bit application ports), or None when it is sound: the
    first octet counts the octets after it, and the information elements (IEI, length, data)
    fill them exactly."""
    if not udh:
        return "must not be empty"
    if udh[0] != len(udh) - 1:
        return (f"the first octet (UDHL, {udh[0]}) must count the octets after it ({len(udh) - 1})")
    if udh[0] == 0:
        return "has no information elements (send an empty udh for a message without one)"
    position = 1
    while position < len(udh):
        if position + 2 > len(udh) or position + 2 + udh[position + 1] > len(udh):
            return f"the information element at octet {position} runs past the header's end"
        position += 2 + udh[position + 1]
    return None


def carries_data(udh: bytes) -> bool:
    """Whether a header (length octet first, concatenation already taken out: see
    `split_udh_elements`) has elements other than the national language shifts, which only say
    how a GSM text is read: ports, SIM toolkit headers, pictures … make the message binary."""
    position = 1
    while position + 1 < len(udh):
        if udh[position] not in _TEXT_ONLY_IES:
            return True
        position += 2 + udh[position + 1]
    return position < len(udh)  # a malformed tail: kept, so the message is not taken as text


def is_binary_coding(data_coding: int) -> bool:
    """8-bit data: 0x04, 0x02 (unspecified 8-bit), and their message-class forms (0x14…0x17,
    0x34…0x37, 0xF4…0xF7)."""
    return alphabet(data_coding) in (DATA_CODING_BINARY, DATA_CODING_BINARY_UNSPECIFIED)


def segment_binary(payload: bytes, udh: bytes, *, reference: int) -> list[bytes]:
    """The `short_message` of each part of a binary message: `udh` (length octet first, or
    `b""`) and `payload` in one part when they fit in 140 octets, else parts whose headers carry
    `udh`'s elements and the concatenation element `00 03 ref total seq`, payloads cut in order.
    Raises `TooManyParts` beyond 255 parts."""
    if len(udh) + len(payload) <= MAX_SHORT_MESSAGE:
        return [udh + payload]
    elements = udh[1:]
    room = MAX_SHORT_MESSAGE - 1 - len(elements) - 5
    if room < 1:
        raise ValueError("the header leaves no room for a payload")
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)]
    if len(chunks) > MAX_CONCAT_PARTS:
        raise TooManyParts(len(chunks), MAX_CONCAT_PARTS)
    ref, total = reference & 0xFF, len(chunks)
    return [bytes((len(elements) + 5,)) + elements + bytes((IE_CONCAT_8, 3, ref, total, seq)) + chunk
            for seq, chunk in enumerate(chunks, 1)]


def _decode_gsm(payload: bytes) -> str:
    septets = payload.translate(_SEPTETS)
    if _ESCAPE not in septets:
        return septets.decode("latin-1").translate(_GSM_DECODING)
    chars: list[str] = []
    escaped = False
    for code in septets:
        if escaped:
            escaped = False
            # An unknown extension code shows as the basic character; a second escape (reserved for
            # a further table) as a space (GSM 03.38 6.2.1.1).
            chars.append(_EXTENSION_CHAR.get(code) or (" " if code == _ESCAPE else _GSM_CHAR[code]))
        elif code == _ESCAPE:
            escaped = True
        else:
            chars.append(_GSM_CHAR[code])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def alphabet(data_coding: int) -> int:
    """Map GSM 03.38 data coding schemes with a message class (e.g. flash 0x10/0x18) to the
    SMPP alphabet values; everything else is returned as is."""
    group = data_coding & 0xF0
    if group in (0x10, 0x30):
        bits = (data_coding >> 2) & 0x03
        return {0: DATA_CODING_GSM, 1: 0x04, 2: DATA_CODING_UCS2}.get(bits, data_coding)
    if group == 0xF0:
        return 0x04 if data_coding & 0x04 else DATA_CODING_GSM
    return data_coding


def decode(payload: bytes, data_coding: int) -> str:
    """Text from a `short_message` payload (without UDH).

    0x00 GSM unpacked with the extension table, 0x01 IA5 (ASCII), 0x03 Latin-1, 0x08 UCS-2
    (UTF-16BE); message-class variants (0x10 flash GSM, 0x18 flash UCS-2, 0xF0 group) by their
    alphabet; anything else as Latin-1. Undecodable bytes become U+FFFD.
    """
    coding = alphabet(data_coding)
    if coding == DATA_CODING_GSM:
        return _decode_gsm(payload)
    if coding == DATA_CODING_IA5:
        return payload.decode("ascii", errors="replace")
    if coding == DATA_CODING_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    return payload.decode("latin-1")


def encode_text(text: str, data_coding: int) -> bytes:
    """A single-part payload for `text` in `data_coding` (no UDH, no length check).

    Characters the alphabet lacks become '?'.
    """
    coding = alphabet(data_coding)
    if coding == DATA_CODING_GSM:
        return _encode_gsm(text)
    if coding == DATA_CODING_IA5:
        return text.encode("ascii", errors="replace")
    if coding == DATA_CODING_UCS2:
        return text.encode("utf-16-be")
    return text.encode("latin-1", errors="replace")
