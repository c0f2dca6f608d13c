"""The Verification API's tables, on the shared `metadata` of `tidings.store.schema`.

    verify_apps     one verification application per project: its key, its secret wrapped with a
                    server key (`tidings.verify.wrap`), callback URL and code/limit settings
    verifications   one row per started verification; the code only as a keyed hash
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.store.schema import metadata

__all__ = ["verifications", "verify_apps"]

verify_apps = Table(
    "verify_apps",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False, unique=True),
    Column("secret_wrapped", String(200), nullable=False),
    Column("callback_url", Text, nullable=True),
    Column("sms_sender", String(32), nullable=False),
    Column("code_length", Integer, nullable=False),
    Column("code_alphabet", String(64), nullable=False),
    Column("expiry_seconds", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("max_resends", Integer, nullable=False),
    Column("flash_cli_prefix", String(24), nullable=False),
    # Conversation API app used for whatsapp and email codes (None: those methods are refused).
    Column("conversation_app_id", String(32), nullable=True),
    # Further per-application options (e.g. the fraud guard's allowed line types).
    Column("options", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

verifications = Table(
    "verifications",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("app_key", String(64), nullable=False),
    Column("method", String(16), nullable=False),
    Column("identity_type", String(16), nullable=False),
    Column("endpoint", String(320), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("custom", Text, nullable=True),
    Column("status", String(12), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("source", String(16), nullable=True),
    Column("code_hash", String(64), nullable=False),
    Column("code_length", Integer, nullable=False),
    Column("cli_prefix", String(24), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("sends", Integer, nullable=False),
    Column("country_id", String(4), nullable=True),
    Column("call_complete", Boolean, nullable=True),
    # What carried the code: a batch id (sms), a call id (voice) or a conversation message id.
    Column("sent_ref", String(64), nullable=True),
    Column("expires_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("completed_ms", BigInteger, nullable=True),
    UniqueConstraint("project_id", "reference", name="uq_verifications_reference"),
    Index("ix_verifications_identity", "project_id", "endpoint", "method", "created_ms"),
    # The retention sweep deletes those that expired before its cutoff, oldest first.
    Index("ix_verifications_expires", "expires_ms"),
)
