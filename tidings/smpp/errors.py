"""Every exception the SMPP package raises, in one tree.

    SmppError
    ├── PduError              a PDU could not be encoded or decoded; carries the command_status
    │   │                     a peer should be answered with (also a ValueError)
    │   └── EncodeError       ... could not be encoded: nothing was sent, and it never will be
    ├── ReceiptError          a deliver_sm flagged as a receipt names no message id (also a ValueError)
    ├── CommandStatusError    the peer answered a request with a non-zero command_status
    │   └── BindError         ... and the request was a bind
    └── SessionError          the connection cannot carry the request
        ├── NotBound          no bound session right now (disconnected, binding, unbinding)
        ├── SessionClosed     the session closed while the request was written or in flight
        └── ResponseTimeout   no response arrived within the session's response timeout

`CommandStatusError.transient` and `SessionError.retryable` tell a caller whether to try again.
A request that failed with `SessionClosed` or `ResponseTimeout` may still have reached the peer:
the outcome is unknown, so a retry can duplicate it. Socket errors never leave the package raw:
sessions map them to `SessionClosed`, the client maps connect failures to `NotBound`.
"""

from __future__ import annotations

from tidings.smpp.constants import CommandId, CommandStatus, is_transient, status_name

__all__ = [
    "BindError",
    "CommandStatusError",
    "EncodeError",
    "NotBound",
    "PduError",
    "ReceiptError",
    "ResponseTimeout",
    "SessionClosed",
    "SessionError",
    "SmppError",
]


class SmppError(Exception):
    """Base of every error raised by `tidings.smpp`."""


class PduError(SmppError, ValueError):
    """A malformed PDU, or a field that cannot be encoded.

    `command_status` is what the peer should be told (ESME_RINVCMDLEN, ESME_RINVCMDID,
    ESME_RINVMSGLEN, a field-specific status...). `command_id` and `sequence_number` are filled in
    once the header was readable, so a session can answer the right request.
    """

    def __init__(
        self,
        command_status: int,
        message: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(f"{message} [{status_name(command_status)}]")
        self.command_status = command_status
        self.command_id = command_id
        self.sequence_number = sequence_number


class EncodeError(PduError):
    """A PDU this side was about to send cannot be encoded (a field too long, not Latin-1...).

    Raised before anything is written or a window slot is taken; sending the same PDU again
    fails the same way, so a caller treats it as a permanent refusal of the message, with
    `command_status` (ESME_RINVSRCADR for a source_addr too long...) as the reason.
    """


class ReceiptError(SmppError, ValueError):
    """A delivery receipt that cannot be matched to a message: no id in its TLVs or its text."""


class CommandStatusError(SmppError):
    """The peer answered with an error status (including a generic_nack)."""

    def __init__(self, command_status: int, command_id: int, message: str | None = None) -> None:
        if message is None:
            try:
                message = f"{CommandId(command_id).name.lower()} rejected"
            except ValueError:
                message = f"request 0x{command_id:08X} rejected"
        text = message
        super().__init__(f"{text}: {status_name(command_status)}")
        self.command_status = command_status
        self.command_id = command_id

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (throttled, queue full...)."""
        return is_transient(self.command_status)


class BindError(CommandStatusError):
    """The SMSC refused the bind (wrong password, unknown system_id, too many binds...)."""

    @property
    def credentials_rejected(self) -> bool:
        return self.command_status in (CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID)


class SessionError(SmppError):
    """The connection cannot carry the request."""

    retryable = True


class NotBound(SessionError):
    """No bound session: nothing was sent, retrying once bound is safe."""


class SessionClosed(SessionError):
    """The session closed; a request in flight may or may not have reached the peer."""


class ResponseTimeout(SessionError):
    """No response in time; the request may or may not have been acted on."""
