"""SMPP 3.4 on asyncio: one codec and one session state machine for both sides of the wire.

Our ESME connector (client to carriers) and our sandbox SMSC (server) speak SMPP through this
package. We write the codec ourselves rather than depend on an existing library: smpplib is
synchronous and client-only; aiosmpplib is a client framework without a server side; neither gives
one codec and one windowed session shared by a client and a server on the same event loop. The
wire format is small and fixed by the specification, so owning it costs little and lets us keep
the hot path fast (>10,000 PDUs/s per core) and every limit explicit.

Modules, one job each:

    constants   command ids, command_status codes, TLV tags, field values; is_transient()
    errors      the exception tree
    fields      C-octet strings and TLVs on the wire
    pdu         one dataclass per PDU, encode() / decode()
    receipt     delivery receipt text and TLVs
    times       SMPP times: absolute and relative, read; relative, written
    session     framing, sequence numbers, windows, bind state, enquire_link (both sides)
    client      EsmeClient: a bind kept alive with reconnect and backoff
    server      SmppServer and its handler hooks
    throttle    RateLimiter and TokenBucket
    backoff     reconnect delays
    testing     RecordingHandler and RawPeer for tests

Sending a message:

    client = EsmeClient("smsc.example.net", 2775, "tidings", "secret", window=20,
                        limiter=TokenBucket(50), on_deliver_sm=store_receipt)
    await client.start()
    response = await client.submit(SubmitSm(source_addr="Tidings", source_addr_ton=Ton.ALPHANUMERIC,
                                            destination_addr="46701234567", dest_addr_ton=Ton.INTERNATIONAL,
                                            dest_addr_npi=Npi.ISDN, registered_delivery=1,
                                            short_message=b"Your code is 1234"))
"""

from __future__ import annotations

from tidings.smpp.backoff import Backoff
from tidings.smpp.client import BindMode, ClientState, DeliverSmCallback, EsmeClient
from tidings.smpp.constants import (
    BIND_COMMANDS,
    DEFAULT_MAX_PDU_SIZE,
    ESM_CLASS_MODE_MASK,
    ESM_CLASS_TYPE_MASK,
    HEADER_SIZE,
    INTERFACE_VERSION,
    MAX_SEQUENCE_NUMBER,
    MAX_SHORT_MESSAGE,
    REGISTERED_DELIVERY_RECEIPT_MASK,
    RESPONSE_BIT,
    TRANSIENT_STATUSES,
    CommandId,
    CommandStatus,
    DataCoding,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Tag,
    Ton,
    is_transient,
    status_name,
)
from tidings.smpp.errors import (
    BindError,
    CommandStatusError,
    EncodeError,
    NotBound,
    PduError,
    ReceiptError,
    ResponseTimeout,
    SessionClosed,
    SessionError,
    SmppError,
)
from tidings.smpp.fields import TlvValue
from tidings.smpp.pdu import (
    PDU_CLASSES,
    BindReceiver,
    BindReceiverResp,
    BindRequest,
    BindResponse,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageIdResponse,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    ShortMessage,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    error_response,
)
from tidings.smpp.receipt import (
    DeliveryReceipt,
    ReceiptStat,
    format_receipt_text,
    parse_receipt_text,
    receipt_from_pdu,
    receipt_pdu,
)
from tidings.smpp.server import ServerSession, SmppHandler, SmppServer
from tidings.smpp.session import RequestHandler, Role, Session, SessionConfig, SessionState, SessionStats
from tidings.smpp.throttle import RateLimiter, TokenBucket

__all__ = [
    "BIND_COMMANDS",
    "DEFAULT_MAX_PDU_SIZE",
    "ESM_CLASS_MODE_MASK",
    "ESM_CLASS_TYPE_MASK",
    "HEADER_SIZE",
    "INTERFACE_VERSION",
    "MAX_SEQUENCE_NUMBER",
    "MAX_SHORT_MESSAGE",
    "PDU_CLASSES",
    "REGISTERED_DELIVERY_RECEIPT_MASK",
    "RESPONSE_BIT",
    "TRANSIENT_STATUSES",
    "Backoff",
    "BindError",
    "BindMode",
    "BindReceiver",
    "BindReceiverResp",
    "BindRequest",
    "BindResponse",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "ClientState",
    "CommandId",
    "CommandStatus",
    "CommandStatusError",
    "DataCoding",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmCallback",
    "DeliverSmResp",
    "DeliveryReceipt",
    "EncodeError",
    "EnquireLink",
    "EnquireLinkResp",
    "EsmClass",
    "EsmeClient",
    "GenericNack",
    "MessageIdResponse",
    "MessageState",
    "NotBound",
    "Npi",
    "Pdu",
    "PduError",
    "QuerySm",
    "QuerySmResp",
    "RateLimiter",
    "ReceiptError",
    "ReceiptStat",
    "RegisteredDelivery",
    "ReplaceSm",
    "ReplaceSmResp",
    "RequestHandler",
    "ResponseTimeout",
    "Role",
    "ServerSession",
    "Session",
    "SessionClosed",
    "SessionConfig",
    "SessionError",
    "SessionState",
    "SessionStats",
    "ShortMessage",
    "SmppError",
    "SmppHandler",
    "SmppServer",
    "SubmitSm",
    "SubmitSmResp",
    "Tag",
    "TlvValue",
    "TokenBucket",
    "Ton",
    "Unbind",
    "UnbindResp",
    "decode",
    "error_response",
    "format_receipt_text",
    "is_transient",
    "parse_receipt_text",
    "receipt_from_pdu",
    "receipt_pdu",
    "status_name",
]
