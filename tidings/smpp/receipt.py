"""Delivery receipts: the `id:... stat:... err:...` text, and reading one out of a deliver_sm.

SMPP 3.4 appendix B suggests (without mandating) a short_message format:

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

Carriers vary it: upper-case keys, `submit_date`, seconds in the dates, fields missing or extra
(`mcc:` ...), long stat words (`DELIVERED`). `parse_receipt_text` accepts all of those; anything it
cannot read is left `None`. `format_receipt_text` writes the canonical form.

`receipt_from_pdu` prefers the receipted_message_id, message_state and network_error_code TLVs,
which are typed and unambiguous, and falls back to the text for whatever they do not carry.
`receipt_pdu` builds the deliver_sm an SMSC sends, with both the text and the TLVs.
Dates are the SMSC's local wall-clock time and are returned naive, as sent.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from datetime import datetime

from tidings.smpp.constants import ESM_CLASS_TYPE_MASK, DataCoding, EsmClass, MessageState, Tag
from tidings.smpp.errors import ReceiptError
from tidings.smpp.fields import TEXT_ENCODING, TlvValue
from tidings.smpp.pdu import DataSm, DeliverSm

__all__ = [
    "DeliveryReceipt",
    "ReceiptStat",
    "format_receipt_text",
    "parse_receipt_text",
    "receipt_from_pdu",
    "receipt_pdu",
]

RECEIPT_TEXT_CHARS = 20
"""The text field carries the first 20 characters of the original message."""

COUNT_DIGITS = 3
_DATE_FORMAT = "%y%m%d%H%M"
_DATE_FORMAT_SECONDS = "%y%m%d%H%M%S"
_NETWORK_ERROR_OCTETS = 3


class ReceiptStat(enum.StrEnum):
    """The seven-letter stat words of the receipt text."""

    DELIVRD = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIV = "UNDELIV"
    ACCEPTD = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTD = "REJECTD"
    ENROUTE = "ENROUTE"


_STATE_BY_STAT: dict[str, MessageState] = {
    ReceiptStat.ENROUTE: MessageState.ENROUTE,
    ReceiptStat.DELIVRD: MessageState.DELIVERED,
    ReceiptStat.EXPIRED: MessageState.EXPIRED,
    ReceiptStat.DELETED: MessageState.DELETED,
    ReceiptStat.UNDELIV: MessageState.UNDELIVERABLE,
    ReceiptStat.ACCEPTD: MessageState.ACCEPTED,
    ReceiptStat.UNKNOWN: MessageState.UNKNOWN,
    ReceiptStat.REJECTD: MessageState.REJECTED,
}
_STAT_BY_STATE = {state: stat for stat, state in _STATE_BY_STAT.items()}
_STAT_ALIASES = {
    "DELIVERED": ReceiptStat.DELIVRD,
    "UNDELIVERABLE": ReceiptStat.UNDELIV,
    "UNDELIVERED": ReceiptStat.UNDELIV,
    "ACCEPTED": ReceiptStat.ACCEPTD,
    "REJECTED": ReceiptStat.REJECTD,
    "EXPIRE": ReceiptStat.EXPIRED,
    "DELETE": ReceiptStat.DELETED,
}

_KEY = re.compile(r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """One delivery receipt, from its TLVs, its text, or both."""

    message_id: str
    stat: str | None = None
    message_state: MessageState | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    error: str | None = None
    network_error: tuple[int, int] | None = None
    text: str = ""

    @property
    def is_final(self) -> bool:
        """True once the SMSC will say nothing more about the message."""
        return self.message_state is not None and self.message_state is not MessageState.ENROUTE


def _normalise_stat(word: str) -> str:
    upper = word.upper()
    if upper in ReceiptStat.__members__:
        return ReceiptStat(upper)
    return _STAT_ALIASES.get(upper, upper)


@functools.lru_cache(maxsize=256)
def _parse_date(value: str) -> datetime | None:
    """YYMMDDhhmm[ss] as `strptime` with _DATE_FORMAT[_SECONDS] reads it (YY < 69 is 20YY), without
    `strptime`'s per-call locale and regex work (it was ~1 % of the receipt path)."""
    if len(value) not in (10, 12) or not value.isascii() or not value.isdigit():
        return None
    yy = int(value[0:2])
    try:
        return datetime(2000 + yy if yy < 69 else 1900 + yy, int(value[2:4]), int(value[4:6]),
                        int(value[6:8]), int(value[8:10]), int(value[10:12]) if len(value) == 12 else 0)
    except ValueError:
        return None


def _parse_count(value: str) -> int | None:
    return int(value) if value.isdigit() else None


_CANONICAL = re.compile(
    r"id:(\S+) sub:(\d+) dlvrd:(\d+) submit date:(\d+) done date:(\d+) stat:(\S+) err:(\S+) text:(.*)", re.DOTALL)
"""The appendix-B layout most SMSCs send (and `format_receipt_text` writes), read with one match."""


def parse_receipt_text(text: str) -> DeliveryReceipt | None:
    """Read a receipt text; None when it has neither an `id:` nor a `stat:` field."""
    canonical = _CANONICAL.fullmatch(text)
    if canonical is None:
        return _parse_any_layout(text)
    message_id, sub, dlvrd, submit_date, done_date, stat_word, error, rest = canonical.groups()
    stat = _normalise_stat(stat_word)
    return DeliveryReceipt(
        message_id=message_id,
        stat=stat,
        message_state=_STATE_BY_STAT.get(stat),
        submitted=int(sub),
        delivered=int(dlvrd),
        submit_date=_parse_date(submit_date),
        done_date=_parse_date(done_date),
        error=error,
        text=rest.strip(),
    )


def _parse_any_layout(text: str) -> DeliveryReceipt | None:
    """Fields in any order and case, `submit_date` spellings, missing fields."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        if key.endswith("date"):
            key = key[: -len("date")].rstrip(" _") + " date"
        if key == "text":
            fields[key] = text[match.end() :].strip()
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        tokens = text[match.end() : end].split()
        fields.setdefault(key, tokens[0] if tokens else "")
    if "id" not in fields and "stat" not in fields:
        return None
    stat = _normalise_stat(fields["stat"]) if fields.get("stat") else None
    return DeliveryReceipt(
        message_id=fields.get("id", ""),
        stat=stat,
        message_state=_STATE_BY_STAT.get(stat) if stat else None,
        submitted=_parse_count(fields.get("sub", "")),
        delivered=_parse_count(fields.get("dlvrd", "")),
        submit_date=_parse_date(fields.get("submit date", "")),
        done_date=_parse_date(fields.get("done date", "")),
        error=fields.get("err") or None,
        text=fields.get("text", ""),
    )


def _count(value: int | None) -> str:
    return f"{value if value is not None else 0:0{COUNT_DIGITS}d}"


def _date(value: datetime | None) -> str:
    if value is None:
        return ""
    # Aware datetimes equal across zones are equal keys: only naive ones are cached.
    return _formatted_date(value) if value.tzinfo is None else value.strftime(_DATE_FORMAT)


@functools.lru_cache(maxsize=16)
def _formatted_date(value: datetime) -> str:
    """Receipts sent in the same second share their dates; `strftime` was ~2 % of an SMSC's CPU."""
    return value.strftime(_DATE_FORMAT)


def format_receipt_text(receipt: DeliveryReceipt) -> str:
    """The canonical appendix-B text for a receipt."""
    stat = receipt.stat
    if stat is None:
        stat = _STAT_BY_STATE[receipt.message_state] if receipt.message_state is not None else ReceiptStat.UNKNOWN
    return (
        f"id:{receipt.message_id} sub:{_count(receipt.submitted)} dlvrd:{_count(receipt.delivered)} "
        f"submit date:{_date(receipt.submit_date)} done date:{_date(receipt.done_date)} "
        f"stat:{stat} err:{receipt.error or '000'} text:{receipt.text[:RECEIPT_TEXT_CHARS]}"
    )


def _pdu_text(pdu: DeliverSm | DataSm) -> str:
    raw = pdu.short_message if isinstance(pdu, DeliverSm) and pdu.short_message else pdu.tlv_bytes(Tag.MESSAGE_PAYLOAD)
    if not raw:
        return ""
    if pdu.data_coding == DataCoding.UCS2:
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode(TEXT_ENCODING)


def receipt_from_pdu(pdu: DeliverSm | DataSm) -> DeliveryReceipt | None:
    """The receipt a deliver_sm (or data_sm) carries; None when it is a mobile-originated message.

    A PDU is a receipt when its esm_class says so or it has a receipted_message_id TLV. TLVs win
    over the text field by field. Raises `ReceiptError` for a receipt without any message id.
    """
    message_type = pdu.esm_class & ESM_CLASS_TYPE_MASK
    tlv_id = pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID)
    if tlv_id is None and message_type not in (EsmClass.DELIVERY_RECEIPT, EsmClass.INTERMEDIATE_NOTIFICATION):
        return None
    parsed = parse_receipt_text(_pdu_text(pdu)) or DeliveryReceipt(message_id="")
    message_id = tlv_id or parsed.message_id
    if not message_id:
        raise ReceiptError(f"receipt in deliver_sm #{pdu.sequence_number} names no message id")
    state, stat = parsed.message_state, parsed.stat
    tlv_state = pdu.tlv_int(Tag.MESSAGE_STATE)
    if tlv_state is not None:
        try:
            state = MessageState(tlv_state)
        except ValueError:
            tlv_state = None
        else:
            stat = _STAT_BY_STATE[state]
    network_error = None
    raw_error = pdu.tlv_bytes(Tag.NETWORK_ERROR_CODE)
    if raw_error is not None and len(raw_error) == _NETWORK_ERROR_OCTETS:
        network_error = (raw_error[0], int.from_bytes(raw_error[1:], "big"))
    return DeliveryReceipt(
        message_id=message_id,
        stat=stat,
        message_state=state,
        submitted=parsed.submitted,
        delivered=parsed.delivered,
        submit_date=parsed.submit_date,
        done_date=parsed.done_date,
        error=parsed.error,
        network_error=network_error,
        text=parsed.text,
    )


def receipt_pdu(
    receipt: DeliveryReceipt,
    *,
    source_addr: str,
    destination_addr: str,
    source_addr_ton: int = 0,
    source_addr_npi: int = 0,
    dest_addr_ton: int = 0,
    dest_addr_npi: int = 0,
) -> DeliverSm:
    """The deliver_sm an SMSC sends for `receipt`: receipt esm_class, the text and the TLVs.

    `source_addr` is the handset the message went to and `destination_addr` the original sender.
    """
    tlvs: dict[int, TlvValue] = {Tag.RECEIPTED_MESSAGE_ID: receipt.message_id}
    if receipt.message_state is not None:
        tlvs[Tag.MESSAGE_STATE] = int(receipt.message_state)
    if receipt.network_error is not None:
        network_type, code = receipt.network_error
        tlvs[Tag.NETWORK_ERROR_CODE] = bytes((network_type,)) + code.to_bytes(2, "big")
    return DeliverSm(
        source_addr=source_addr,
        source_addr_ton=source_addr_ton,
        source_addr_npi=source_addr_npi,
        destination_addr=destination_addr,
        dest_addr_ton=dest_addr_ton,
        dest_addr_npi=dest_addr_npi,
        esm_class=EsmClass.DELIVERY_RECEIPT,
        short_message=format_receipt_text(receipt).encode(TEXT_ENCODING),
        tlvs=tlvs,
    )
