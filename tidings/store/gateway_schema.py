"""The SMPP gateway's tables (customers binding to us as ESMEs), on the shared `metadata`.

    smpp_accounts   one ESME account per service plan: system_id, hashed password, window and
                    throughput cap per bind, binds at once, the networks binds may come from,
                    when it last bound
    smpp_binds      how many sessions each gateway process has bound per account, refreshed while
                    they last, so a bind limit holds across processes
    smpp_batches    batches submitted over SMPP: what a receipt deliver_sm must carry (addresses,
                    receipt mode, text head), the data_coding a replace_sm's text comes in, and
                    the addresses a cancel_sm without message_id names
    smpp_outbox     deliver_sm waiting for a bound ESME (receipts and MO), written in the same
                    transaction as the change they report; delivered until a deliver_sm_resp
    smpp_submit_parts
                    the parts of concatenated submit_sm, each stored before it is answered, until
                    the message they make is sent
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from tidings.store.schema import BigId, metadata

__all__ = ["smpp_accounts", "smpp_batches", "smpp_binds", "smpp_outbox", "smpp_submit_parts"]

smpp_accounts = Table(
    "smpp_accounts",
    metadata,
    Column("system_id", String(16), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False, index=True),
    Column("service_plan_id", String(64), nullable=False, index=True),
    Column("password_hash", String(128), nullable=False),
    # submit_sm in progress at once per bind; the next is answered ESME_RMSGQFUL.
    Column("window", Integer, nullable=False),
    # submit_sm per second per bind; beyond it ESME_RTHROTTLED.
    Column("throughput", Integer, nullable=False),
    # Binds at once across every gateway process; the next is refused ESME_RBINDFAIL (throughput
    # is per bind, so this also caps the account's throughput).
    Column("max_binds", Integer, nullable=False, server_default=text("4")),
    # Addresses or CIDR networks binds may come from, separated by spaces or commas; NULL or
    # empty: anywhere (`tidings/gateway/guard.py`).
    Column("allowed_networks", Text, nullable=True),
    # Last successful bind: MO is queued for accounts that have bound at least once.
    Column("bound_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

# One row per (gateway process, account) with sessions bound: the process refreshes `seen_ms`
# while it runs (`tidings/gateway/binds.py`); rows not refreshed within the lease are a stopped
# process's and count for nothing.
smpp_binds = Table(
    "smpp_binds",
    metadata,
    Column("gateway_id", String(32), primary_key=True),
    Column("system_id", String(16), primary_key=True),
    Column("binds", Integer, nullable=False),
    Column("seen_ms", BigInteger, nullable=False),
    Index("ix_smpp_binds_account", "system_id", "seen_ms"),
)

smpp_batches = Table(
    "smpp_batches",
    metadata,
    Column("batch_id", String(32), ForeignKey("batches.id"), primary_key=True),
    Column("system_id", String(16), nullable=False),
    Column("registered_delivery", Integer, nullable=False),
    Column("source_addr", String(32), nullable=False),
    Column("source_addr_ton", Integer, nullable=False),
    Column("source_addr_npi", Integer, nullable=False),
    Column("destination_addr", String(32), nullable=False),
    Column("dest_addr_ton", Integer, nullable=False),
    Column("dest_addr_npi", Integer, nullable=False),
    Column("text_head", String(80), nullable=False),
    Column("submitted_ms", BigInteger, nullable=False),
    # The submit_sm's data_coding (a replace_sm's short_message comes in it); NULL for rows
    # written before it was kept.
    Column("data_coding", Integer, nullable=True),
    # cancel_sm without message_id: the account's messages from one address to another.
    Index("ix_smpp_batches_addresses", "system_id", "destination_addr", "source_addr"),
)

smpp_outbox = Table(
    "smpp_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("system_id", String(16), nullable=False),
    Column("kind", String(12), nullable=False),  # receipt | mo
    # The deliver_sm PDUs as encoded on the wire (sequence numbers are set when sent), one after
    # the other: a long MO takes several.
    Column("pdus", LargeBinary, nullable=False),
    Column("state", String(12), nullable=False),  # pending | delivered | expired
    Column("attempts", Integer, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("claimed_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    Index("ix_smpp_outbox_due", "state", "system_id", "due_ms"),
)

# One row per part of a concatenated submit_sm (`tidings/gateway/parts.py`), with the message it
# belongs to: `message_id` is the id every part was answered with, which becomes the batch's id.
# Parts of a message still waiting for the rest are found by account, addresses, reference and
# total (at most one such message per key; claimed ones may share the key until they are gone).
smpp_submit_parts = Table(
    "smpp_submit_parts",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("system_id", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("destination", String(32), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("data_coding", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("registered_delivery", Integer, nullable=False),
    Column("send_at_ms", BigInteger, nullable=True),
    Column("expire_at_ms", BigInteger, nullable=True),
    Column("source_addr_ton", Integer, nullable=False),
    Column("source_addr_npi", Integer, nullable=False),
    Column("dest_addr_ton", Integer, nullable=False),
    Column("dest_addr_npi", Integer, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    # Set on every part of the message when the part completing it (or the timeout) claims it
    # for sending; the rows go once its batch exists.
    Column("claimed_ms", BigInteger, nullable=True),
    Index("ix_smpp_submit_parts_key", "system_id", "source", "destination", "reference", "total"),
    Index("ix_smpp_submit_parts_waiting", "received_ms", sqlite_where=text("claimed_ms IS NULL"),
          postgresql_where=text("claimed_ms IS NULL")),
    Index("ix_smpp_submit_parts_claimed", "claimed_ms", sqlite_where=text("claimed_ms IS NOT NULL"),
          postgresql_where=text("claimed_ms IS NOT NULL")),
)
