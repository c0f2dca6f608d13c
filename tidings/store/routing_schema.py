"""Tables of SMS routing and sender IDs, on the same metadata as `schema.py`.

- `route_stats`: each worker's decayed delivery counters per route x destination (shared).
- `delivery_costs`: what each dispatched delivery cost on the route that carried it.
- `senders`, `sender_registrations`, `sender_policies`: a project's sender ID registry, the
  registration status of each sender per country, and what to do with a non-compliant send.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Integer, String, Table, UniqueConstraint

from tidings.store.schema import metadata

route_stats = Table(
    "route_stats",
    metadata,
    Column("worker", String(64), primary_key=True),
    Column("route", String(64), primary_key=True),
    Column("destination", String(8), primary_key=True),
    Column("delivered", Float, nullable=False),
    Column("failed", Float, nullable=False),
    Column("latency_sum_ms", Float, nullable=False),
    Column("latency_n", Float, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

delivery_costs = Table(
    "delivery_costs",
    metadata,
    Column("delivery_id", BigInteger, primary_key=True),
    Column("route", String(64), nullable=False),
    Column("amount", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("parts", Integer, nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
)

senders = Table(
    "senders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("address", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # long_code | short_code | alphanumeric
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    UniqueConstraint("project_id", "address", name="uq_senders_project_address"),
)

sender_registrations = Table(
    "sender_registrations",
    metadata,
    Column("sender_id", String(32), ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("status", String(16), nullable=False),  # registered | pending | rejected
    # The regulator's or carrier's reference: a US 10DLC campaign id, an Indian DLT header id…
    Column("reference", String(200), nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)

sender_policies = Table(
    "sender_policies",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), primary_key=True),
    Column("mode", String(8), nullable=False),  # off | reject | rewrite
    Column("defaults", JSON, nullable=False),  # country (ISO 3166 alpha-2) -> sender address
    Column("updated_ms", BigInteger, nullable=False),
)
