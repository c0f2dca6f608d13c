"""The consent ledger's tables, on the shared `metadata` of `tidings.store.schema`.

    consent_events         append-only history: every opt-in and opt-out with its source and proof
    consent_state          the latest event per (project, identity, channel, purpose) key, written in
                           the same transaction as the event (the ledger's materialised view)
    consent_settings       per project ("" sender) and per sender: keyword settings, opt-out regimes
    consent_confirmations  double opt-in requests: pending until confirmed by reply or link, or expired

Channel "*" means every channel and purpose "*" every purpose (docs/subsystems/consent.md).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table

from tidings.store.schema import BigId, metadata

__all__ = ["consent_confirmations", "consent_events", "consent_settings", "consent_state"]

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("identity", String(320), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("action", String(8), nullable=False),  # opt_in | opt_out
    Column("source", String(16), nullable=False),  # api | keyword | double_opt_in | import
    Column("proof", JSON, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_consent_events_identity", "project_id", "identity", "id"),
)

consent_state = Table(
    "consent_state",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("identity", String(320), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("purpose", String(16), primary_key=True),
    Column("action", String(8), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_consent_state_list", "project_id", "purpose", "action", "identity"),
)

consent_settings = Table(
    "consent_settings",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), primary_key=True),
    Column("sender", String(64), primary_key=True),  # "" for the project's own settings
    Column("config", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

consent_confirmations = Table(
    "consent_confirmations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("identity", String(320), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("purposes", JSON, nullable=False),
    Column("sender", String(64), nullable=True),
    Column("method", String(8), nullable=False),  # reply | link
    Column("state", String(12), nullable=False),  # pending | confirmed | expired
    Column("request_ref", String(64), nullable=True),  # the batch that carried the request
    Column("request_proof", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("confirmed_ms", BigInteger, nullable=True),
    Column("event_id", BigInteger, nullable=True),  # the opt-in it produced
    Index("ix_consent_confirmations_identity", "project_id", "identity", "channel", "state"),
)
