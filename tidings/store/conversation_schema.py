"""The Conversation API's tables, on the same `metadata` as `schema.py`.

    conv_apps            an app: display name, channel credentials per channel, settings
    conv_app_webhooks    where an app's events go (target, triggers, signing secret)
    conv_contacts        a person; conv_identities maps (channel, identity, app_id) to one contact
                         (app_id "" unless the identity is the app's own: app-scoped channels)
    conv_conversations   one per (app, contact) while active
    conv_messages        both directions; outbound ones carry the engine's state: the channel
                         plan, which entry is being tried, and when the engine must look again
    conv_attempts        every channel tried for an outbound message (skipped, failed, sent,
                         delivered, timed out) with its reason and the platform's message id
    conv_channel_events  what connectors heard from platforms (statuses, inbound), stored before
                         the platform gets its 2xx, processed afterwards
    conv_app_events      events:send (composing, agent joined, ...): accepted, then delivered on
                         one channel by `conversations/app_events.py`
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.store.schema import BigId, metadata

conv_apps = Table(
    "conv_apps",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False, index=True),
    Column("display_name", String(200), nullable=False),
    Column("channel_credentials", JSON, nullable=False),
    Column("conversation_metadata_report_view", String(32), nullable=False),
    Column("processing_mode", String(16), nullable=False),
    # Settings stored and returned as given (rate_limits, ...); the retention policies are
    # checked first and applied by the sweeper (tidings/conversations/retention.py).
    Column("settings", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

conv_app_webhooks = Table(
    "conv_app_webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("app_id", String(32), nullable=False, index=True),
    Column("target", Text, nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("secret", String(200), nullable=True),
    Column("triggers", JSON, nullable=False),
    Column("client_credentials", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

conv_contacts = Table(
    "conv_contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("display_name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("language", String(16), nullable=True),
    Column("metadata", Text, nullable=True),
    Column("external_id", String(200), nullable=True),
    Column("channel_priority", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_conv_contacts_project_created", "project_id", "created_ms"),
)

conv_identities = Table(
    "conv_identities",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("identity", String(320), primary_key=True),
    # The app an app-scoped identity belongs to (Messenger PSIDs, Instagram, LINE, WeChat ids);
    # "" for an identity every app reaches (revision 0028).
    Column("app_id", String(32), primary_key=True, server_default=""),
    Column("contact_id", String(32), nullable=False, index=True),
    Column("position", Integer, nullable=False),
)

conv_conversations = Table(
    "conv_conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("contact_id", String(32), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("active_channel", String(32), nullable=True),
    Column("metadata", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    # Sinch's `metadata_json` and `correlation_id` of a conversation (revision 0028).
    Column("metadata_json", JSON, nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Index("ix_conv_conversations_app_contact", "app_id", "contact_id"),
    Index("ix_conv_conversations_project", "project_id", "last_ms"),
)

conv_messages = Table(
    "conv_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("conversation_id", String(32), nullable=True, index=True),
    Column("contact_id", String(32), nullable=True),
    Column("direction", String(16), nullable=False),  # TO_CONTACT | TO_APP
    Column("content", JSON, nullable=False),  # AppMessage or ContactMessage JSON
    Column("channel", String(32), nullable=True),  # the channel it went out / came in on
    Column("identity", String(320), nullable=True),
    Column("metadata", Text, nullable=True),  # message_metadata
    Column("correlation_id", String(128), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("processing_mode", String(16), nullable=False),
    Column("ttl_ms", BigInteger, nullable=True),
    # [{"channel": ..., "identity": ...}] in the order they are tried
    Column("plan", JSON, nullable=True),
    Column("plan_index", Integer, nullable=False, default=0),
    Column("tries", Integer, nullable=False, default=0),  # transient failures on this entry
    # PENDING (engine acts at next_ms), WAITING (sent; fall back at next_ms unless delivered),
    # DELIVERED, READ, FAILED (outbound); RECEIVED (inbound)
    Column("state", String(16), nullable=False),
    Column("next_ms", BigInteger, nullable=True),
    Column("claimed_ms", BigInteger, nullable=True),
    Column("attempt_id", BigInteger, nullable=True),  # the attempt it is waiting on
    Column("reason", Text, nullable=True),
    Column("channel_message_id", String(200), nullable=True),  # inbound: the platform's id
    Column("accept_ms", BigInteger, nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_hash", String(64), nullable=True),
    # What Tidings keeps beside the Sinch fields (revision 0009): `channel_properties` of the
    # send request, `purpose: "system"` for the platform's own replies (keyword confirmations,
    # double opt-in requests), `content_safety` (the inbound verdict when suspicious).
    Column("extensions", JSON, nullable=True),
    UniqueConstraint("project_id", "idempotency_key", name="uq_conv_messages_idempotency"),
    UniqueConstraint("channel", "channel_message_id", name="uq_conv_messages_channel_id"),
    Index("ix_conv_messages_due", "state", "next_ms"),
    Index("ix_conv_messages_project_accept", "project_id", "accept_ms"),
    # The engine's last inbound / last outbound per contact and channel (revision 0010).
    Index("ix_conv_messages_contact_channel", "contact_id", "channel", "direction", "accept_ms"),
)

conv_attempts = Table(
    "conv_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(32), nullable=False, index=True),
    Column("position", Integer, nullable=False),  # index into the message's plan
    Column("channel", String(32), nullable=False),
    Column("identity", String(320), nullable=True),
    # SKIPPED | SENT | DELIVERED | READ | FAILED | TIMED_OUT
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("channel_message_id", String(200), nullable=True),
    Column("billing_category", String(64), nullable=True),
    Column("tries", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("deadline_ms", BigInteger, nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
    Index("ix_conv_attempts_channel_id", "channel", "channel_message_id"),
    # Read watermarks: everything sent to an identity on a channel up to a time (revision 0009).
    Index("ix_conv_attempts_identity", "channel", "identity", "created_ms"),
)

conv_channel_events = Table(
    "conv_channel_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # status | inbound
    Column("body", JSON, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("claimed_ms", BigInteger, nullable=True),
    Column("processed_ms", BigInteger, nullable=True),
    Index("ix_conv_channel_events_due", "processed_ms", "due_ms"),
)

conv_app_events = Table(
    "conv_app_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("contact_id", String(32), nullable=True),
    Column("conversation_id", String(32), nullable=True),
    Column("channel", String(32), nullable=False),  # the one channel it goes out on
    Column("identity", String(320), nullable=False),
    Column("event", JSON, nullable=False),  # the AppEvent JSON: one *_event key
    Column("metadata", Text, nullable=True),  # event_metadata
    Column("callback_url", Text, nullable=True),
    Column("processing_mode", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # PENDING | DELIVERED | FAILED
    Column("reason", Text, nullable=True),
    Column("tries", Integer, nullable=False),
    Column("next_ms", BigInteger, nullable=True),
    Column("claimed_ms", BigInteger, nullable=True),
    Column("accept_ms", BigInteger, nullable=False),
    Index("ix_conv_app_events_due", "state", "next_ms"),
)

__all__ = [
    "conv_app_events",
    "conv_app_webhooks",
    "conv_apps",
    "conv_attempts",
    "conv_channel_events",
    "conv_contacts",
    "conv_conversations",
    "conv_identities",
    "conv_messages",
]
