"""Prometheus metrics: messages accepted, sent, delivered and failed per channel, and latencies.

One registry per process (`REGISTRY`); `/metrics` renders it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.core.statuses import Status

if TYPE_CHECKING:
    from tidings.workers.writer import Transition

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_ACCEPTED = Counter(
    "tidings_messages_accepted_total", "Messages accepted by an API (one per recipient).",
    ["channel"], registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "tidings_messages_sent_total", "Messages handed to a channel and accepted by it.",
    ["channel"], registry=REGISTRY,
)
MESSAGES_DELIVERED = Counter(
    "tidings_messages_delivered_total", "Messages confirmed delivered.", ["channel"], registry=REGISTRY,
)
MESSAGES_FAILED = Counter(
    "tidings_messages_failed_total", "Messages that ended in a final status other than delivered.",
    ["channel", "status"], registry=REGISTRY,
)
DELIVERY_FEEDBACK = Counter(
    "tidings_sms_delivery_feedback_total",
    "SMS recipients the customer confirmed got the message (XMS delivery feedback), by the route "
    "that carried it: against that route's Delivered receipts, a route whose receipts claim more "
    "than its recipients confirm.",
    ["connection"], registry=REGISTRY,
)
MESSAGES_INBOUND = Counter(
    "tidings_messages_inbound_total", "Messages received from handsets.", ["channel"], registry=REGISTRY,
)
ORPHAN_RECEIPTS_DROPPED = Counter(
    "tidings_orphan_receipts_dropped_total",
    "Receipts whose message id matched no submission within the orphan retention, dropped.",
    registry=REGISTRY,
)
MESSAGES_PURGED = Counter(
    "tidings_messages_purged_total",
    "Messages deleted past their retention: batch recipients (deliveries), inbounds, Conversation API "
    "messages, verifications.",
    ["kind"], registry=REGISTRY,
)
WEBHOOKS = Counter(
    "tidings_webhooks_total", "Webhook delivery attempts by outcome.", ["outcome"], registry=REGISTRY,
)
API_UNAVAILABLE = Counter(
    "tidings_api_unavailable_total",
    "API requests answered 503 because the database was unavailable (unanswered, refused, cut, locked).",
    ["api"], registry=REGISTRY,
)
API_LATENCY = Histogram(
    "tidings_api_request_seconds", "API request latency.", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "tidings_delivery_seconds", "From acceptance to a final status.", ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)


def count_transitions(transitions: Sequence[Transition], channel: str = "sms") -> None:
    delivered = sent = 0
    latency = DELIVERY_LATENCY.labels(channel)
    for t in transitions:
        if t.new is Status.DISPATCHED:
            sent += 1
            continue
        if not t.new.is_final:
            continue
        if t.created_ms is not None:
            latency.observe(max(0, t.at_ms - t.created_ms) / 1000)
        if t.new is Status.DELIVERED:
            delivered += 1
        else:
            MESSAGES_FAILED.labels(channel, t.new.value).inc()
    if sent:
        MESSAGES_SENT.labels(channel).inc(sent)
    if delivered:
        MESSAGES_DELIVERED.labels(channel).inc(delivered)


def render() -> bytes:
    return generate_latest(REGISTRY)


def metrics_route() -> Route:
    """`GET /metrics` in Prometheus' text format."""

    async def metrics(_request: Request) -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])
