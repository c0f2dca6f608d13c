"""The send policy's tables (caps, collapse, quiet hours; docs/subsystems/policy.md).

`policy_settings` holds each project's settings JSON (absent: the defaults). `policy_sends` is the
caps ledger: one row per message the gate let through, per contact key it counts against (a
conversation contact's every phone identity and its contact id, so SMS and WhatsApp to one person
count together); `ref` names the message ("sms:<delivery id>", "conv:<message id>") so a message
evaluated twice (a retry, a conversation message sent on as SMS) is counted once.
`policy_decisions` records every refusal and deferral with its reason code, for audits.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, String, Table, UniqueConstraint

from tidings.store.schema import BigId, metadata

policy_settings = Table(
    "policy_settings",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

policy_sends = Table(
    "policy_sends",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), nullable=False),
    Column("contact_key", String(340), nullable=False),
    Column("ref", String(80), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("collapse_key", String(64), nullable=True),
    Column("sent_ms", BigInteger, nullable=False),
    UniqueConstraint("ref", "contact_key", name="uq_policy_sends_ref"),
    Index("ix_policy_sends_contact", "project_id", "contact_key", "sent_ms"),
)

policy_decisions = Table(
    "policy_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), nullable=False),
    Column("ref", String(80), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("identity", String(320), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("outcome", String(8), nullable=False),  # reject | defer
    Column("reason", String(40), nullable=False),
    Column("until_ms", BigInteger, nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_policy_decisions_ref", "ref"),
    Index("ix_policy_decisions_project", "project_id", "at_ms"),
)
