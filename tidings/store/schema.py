"""The tables. Times are integer epoch milliseconds (`*_ms`): portable and cheap to compare.

One schema serves both profiles (SQLite and PostgreSQL); Alembic migrations in
`tidings/store/migrations/` create it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

# SQLite only aliases the rowid (and so autoincrements) for an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("webhook_secret", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False, index=True),
    Column("secret_hash", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

service_plans = Table(
    "service_plans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False, index=True),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("callback_url", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("service_plan_id", String(64), nullable=True),
    Column("type", String(16), nullable=False),  # mt_text or mt_binary
    Column("sender", String(32), nullable=True),
    Column("body", Text, nullable=False),  # mt_binary: the payload in Base64
    # mt_binary: the user data header in hex, its length octet first (at most 140 octets with the
    # payload); NULL for text and for a binary message without a header.
    Column("udh", String(280), nullable=True),
    Column("parameters", JSON(none_as_null=True), nullable=True),  # no parameters: SQL NULL, not JSON null
    Column("delivery_report", String(32), nullable=False),
    Column("callback_url", Text, nullable=True),
    Column("client_reference", String(2048), nullable=True),
    Column("send_at_ms", BigInteger, nullable=True),
    Column("expire_at_ms", BigInteger, nullable=False),
    Column("max_number_of_message_parts", Integer, nullable=True),
    Column("truncate_concat", Boolean, nullable=True),
    Column("flash_message", Boolean, nullable=False, default=False),
    Column("feedback_enabled", Boolean, nullable=False, default=False),
    Column("canceled", Boolean, nullable=False, default=False),
    Column("recipient_count", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    # When the batch-level delivery report webhook was queued (summary/full reports).
    Column("report_queued_ms", BigInteger, nullable=True),
    # When the wait for the batch's receipts ended (`expire_at` plus the receipt wait passed):
    # its messages still Dispatched then became Unknown. NULL while receipts are awaited.
    Column("receipts_closed_ms", BigInteger, nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_hash", String(64), nullable=True),
    # Why the batch is sent (engagement, information, security, satisfaction; "system" for the
    # platform's own replies); NULL is information. Consent is checked against it at dispatch.
    Column("purpose", String(16), nullable=True),
    # Tidings extension: identical informational messages with one key collapse into one
    # (docs/subsystems/policy.md); NULL: a hash of recipient and body.
    Column("collapse_key", String(200), nullable=True),
    # The `to` as the customer sent it, when it named groups (the recipients are then the
    # members they had at the send); NULL: the recipients are the `to`.
    Column("requested_to", JSON(none_as_null=True), nullable=True),
    # The sender's SMPP type of number and numbering plan when the caller set them (XMS
    # `from_ton`, `from_npi`); NULL: detected from `sender` when it is sent.
    Column("from_ton", SmallInteger, nullable=True),
    Column("from_npi", SmallInteger, nullable=True),
    # A scheduled batch whose `to` names groups: when its groups are to be expanded into their
    # members' deliveries (its `send_at`; the groups named are those in `requested_to`). NULL: no
    # expansion is waiting (done, cancelled, or the members were written at acceptance).
    Column("expand_groups_ms", BigInteger, nullable=True),
    # Numbers an update's `to_remove` took out of such a batch: the expansion leaves them out
    # even when a group has them. NULL: none.
    Column("excluded_recipients", JSON(none_as_null=True), nullable=True),
    UniqueConstraint("project_id", "idempotency_key", name="uq_batches_idempotency"),
    Index("ix_batches_project_created", "project_id", "created_ms"),
    Index("ix_batches_sender_created", "sender", "created_ms"),
    Index("ix_batches_report_pending", "delivery_report", "report_queued_ms"),
    # Only the batches whose receipts are still awaited, by expiry: the sweeper's search for
    # those past their receipt deadline (`Sweeper.give_up_on_receipts`).
    Index("ix_batches_receipts_open", "expire_at_ms", sqlite_where=text("receipts_closed_ms IS NULL"),
          postgresql_where=text("receipts_closed_ms IS NULL")),
    # Only the batches whose groups still wait to be expanded, by time: the sweeper's search for
    # those due (`tidings.actions.scheduled_groups`).
    Index("ix_batches_expand_groups", "expand_groups_ms", sqlite_where=text("expand_groups_ms IS NOT NULL"),
          postgresql_where=text("expand_groups_ms IS NOT NULL")),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", String(32), ForeignKey("batches.id"), nullable=False),
    Column("project_id", String(64), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("code", Integer, nullable=False),
    Column("encoding", String(8), nullable=True),
    Column("segments", Integer, nullable=True),
    # Earliest time the dispatcher may take it (send_at, or a retry after throttling).
    Column("due_ms", BigInteger, nullable=False),
    # Set when its id was put on the dispatch queue; NULL means "not queued yet" (scheduled
    # for later, or released after throttling): the sweeper publishes it once due.
    Column("published_ms", BigInteger, nullable=True),
    # Set when a worker claims it for submission; a stale claim is taken over after the lease.
    Column("claimed_ms", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("connection", String(64), nullable=True),
    Column("status_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # Verification codes and other time-critical messages: served ahead of bulk by the dispatch
    # queue, the sweeper and the throughput caps (docs/subsystems/priority.md).
    Column("priority", Boolean, nullable=False, server_default=false(), default=False),
    # When the customer confirmed the recipient got the message (XMS delivery feedback).
    Column("feedback_ms", BigInteger, nullable=True),
    Index("ix_deliveries_batch", "batch_id", "recipient"),
    # Only the Queued rows (the background searches for stale or overdue ones): a row leaves it
    # when dispatched, and later status changes never touch it.
    Index("ix_deliveries_queued", "due_ms", sqlite_where=text("status = 'Queued'"),
          postgresql_where=text("status = 'Queued'")),
    Index("ix_deliveries_project_status", "project_id", "status_ms"),
    # Only the rows not yet on the dispatch queue (scheduled, or released after throttling):
    # the sweeper looks for due ones several times a second, and the status index would have
    # it read the whole Queued backlog each time.
    Index("ix_deliveries_unpublished", "due_ms", sqlite_where=text("published_ms IS NULL"),
          postgresql_where=text("published_ms IS NULL")),
)

# One row per submit_sm accepted by an SMSC: a long message has one per segment, each with its
# own SMSC message id and its own receipt. The delivery's status aggregates its parts.
submissions = Table(
    "submissions",
    metadata,
    Column("connection", String(64), nullable=False),
    Column("smsc_message_id", String(72), nullable=False),
    Column("delivery_id", BigInteger, nullable=False, index=True),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("code", Integer, nullable=False),
    Column("submitted_ms", BigInteger, nullable=False),
    # The message id first: a flush's receipts are looked up by `smsc_message_id IN (…)` within
    # one connection, and with the connection first PostgreSQL, short of statistics, read every
    # row of the connection and filtered them (revision 0020).
    PrimaryKeyConstraint("smsc_message_id", "connection", name="submissions_pkey"),
)

# Receipts whose message id is not (yet) known: matched when the submit response lands, dropped
# after `orphan_receipt_seconds` (then they name a message we did not send, or sent again).
def _receipt_columns() -> list[Column[Any]]:
    """A receipt kept as a row: `orphan_receipts` and `receipt_inbox` hold the same."""
    return [
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("connection", String(64), nullable=False),
        Column("smsc_message_id", String(72), nullable=False),
        Column("status", String(16), nullable=False),
        Column("code", Integer, nullable=False),
        Column("received_ms", BigInteger, nullable=False),
    ]


orphan_receipts = Table(
    "orphan_receipts",
    metadata,
    *_receipt_columns(),
    # The message id first, as in `submissions` (revision 0021).
    Index("ix_orphan_receipts_smsc", "smsc_message_id", "connection"),
    # The sweeper drops those no submission matched within `orphan_receipt_seconds`.
    Index("ix_orphan_receipts_received", "received_ms"),
)

# Receipts answered to the SMSC before they are applied (distributed profile): written in one
# quick statement so the deliver_sm is answered without waiting for the writer's flush, deleted
# by the flush that applies them (revision 0029). Rows older than a minute are a dead worker's:
# the sweeper applies them.
receipt_inbox = Table(
    "receipt_inbox",
    metadata,
    *_receipt_columns(),
    Index("ix_receipt_inbox_received", "received_ms"),
)

# The parts of concatenated MO messages, kept until every part is here (then the message is
# stored in `inbounds` by the same transaction) and for a while after, to recognise a part the
# SMSC delivers again. Parts may arrive over different SMPP sessions, in any order, and in
# different workers' transactions (docs/subsystems/smpp.md, "concatenated MO").
mo_parts = Table(
    "mo_parts",
    metadata,
    Column("connection", String(64), primary_key=True),
    Column("sender", String(32), primary_key=True),
    Column("recipient", String(32), primary_key=True),
    Column("reference", Integer, primary_key=True),
    Column("total", Integer, primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("data_coding", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # A binary part's header elements other than concatenation (length octet first); NULL for
    # text, and for 8-bit data without other elements.
    Column("udh", LargeBinary, nullable=True),
    Column("smsc_message_id", String(72), nullable=True),
    Column("received_ms", BigInteger, nullable=False),
    # Set on every part of the message when it is stored whole (or, parts missing, overdue).
    Column("assembled_ms", BigInteger, nullable=True),
    Index("ix_mo_parts_waiting", "received_ms", sqlite_where=text("assembled_ms IS NULL"),
          postgresql_where=text("assembled_ms IS NULL")),
)

inbounds = Table(
    "inbounds",
    metadata,
    Column("id", String(32), primary_key=True),
    # NULL while no project owns the number it was sent to: kept, visible to nobody.
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=True),
    Column("service_plan_id", String(64), nullable=True),
    Column("type", String(16), nullable=False),  # mo_text or mo_binary
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("body", Text, nullable=False),  # mo_binary: the payload in Base64
    # mo_binary: the user data header's elements other than concatenation, in hex, length octet
    # first; NULL for text and when the message had no other elements.
    Column("udh", Text, nullable=True),
    Column("received_ms", BigInteger, nullable=False),
    Column("connection", String(64), nullable=True),
    Column("smsc_message_id", String(72), nullable=True),
    # The message id first: an MO flush looks its keys up by `smsc_message_id IN (…)` within one
    # connection (revision 0021).
    UniqueConstraint("smsc_message_id", "connection", name="uq_inbounds_smsc"),
    Index("ix_inbounds_project_received", "project_id", "received_ms"),
)

# Numbers owned by a project: MO to them is routed to that project.
numbers = Table(
    "numbers",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("service_plan_id", String(64), nullable=True),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("kind", String(48), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_ms", BigInteger, nullable=False),
    Column("claimed_ms", BigInteger, nullable=True),
    Column("state", String(12), nullable=False),  # pending | delivered | rejected | expired
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    # Signs this row instead of the project's webhook_secret (Conversation API app webhooks
    # each have their own secret).
    Column("secret", String(200), nullable=True),
    Index("ix_webhook_outbox_due", "state", "due_ms"),
)

# Secrets this server signs with (OAuth2 access tokens), created on first use and shared by
# every API process of the distributed profile through the database.
server_keys = Table(
    "server_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)


# The Conversation API's tables live in their own module on the same metadata.
from tidings.store import conversation_schema as conversation_schema  # noqa: E402,F401
# The Verification API's tables, likewise.
from tidings.store import verify_schema as verify_schema  # noqa: E402,F401
# The SMPP gateway's (customers binding as ESMEs), likewise.
from tidings.store import gateway_schema as gateway_schema  # noqa: E402,F401
# The consent ledger's, likewise.
from tidings.store import consent_schema as consent_schema  # noqa: E402,F401
# SMS routing (route statistics, delivery costs) and the sender ID registry, likewise.
from tidings.store import routing_schema as routing_schema  # noqa: E402,F401
# The send policy's tables (caps ledger, decisions, settings), likewise.
from tidings.store import policy_schema as policy_schema  # noqa: E402,F401
# XMS groups of recipients, likewise.
from tidings.store import groups_schema as groups_schema  # noqa: E402,F401
