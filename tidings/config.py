"""Settings, read from the environment (`TIDINGS_*`) with defaults for the embedded profile."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

LONG_MESSAGE_MODES = ("udh", "sar", "payload")

SANDBOX_SYSTEM_ID = "tidings"
SANDBOX_PASSWORD = "sandbox"
"""The ESME account the embedded profile binds to its sandbox SMSC with, and `tidings sandbox`'s default."""


@dataclass(frozen=True)
class SmppConnectionSettings:
    """One named SMPP connection (a carrier or the sandbox SMSC)."""

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    window: int = 64
    throughput: float = 0.0  # messages/second; 0 = uncapped
    enquire_link_interval: float = 30.0
    # How a message longer than one part goes to this SMSC (docs/subsystems/smpp.md, "Outbound
    # encoding"): "udh" parts with a concatenation header, "sar" parts numbered by the SAR TLVs,
    # "payload" the whole text in one submit_sm's message_payload TLV for the SMSC to split.
    long_messages: str = "udh"
    # Routing (docs/subsystems/routing.md): lower priority first (None: the position in the
    # list), price per message part by destination prefix ("" for any other), its currency.
    priority: int | None = None
    enabled: bool = True
    prices: dict[str, float] = field(default_factory=dict, hash=False)
    currency: str = "EUR"
    # TLS around the connection (carriers that take SMPP over the internet ask for it): the CA
    # file the SMSC's certificate is checked against (None: the system's), and whether to check
    # it at all (a test SMSC with a self-signed certificate).
    tls: bool = False
    tls_ca_file: str | None = None
    tls_verify: bool = True

    def __post_init__(self) -> None:
        if self.long_messages not in LONG_MESSAGE_MODES:
            raise ValueError(f"SMPP connection {self.name!r}: long_messages must be one of "
                             f"{', '.join(LONG_MESSAGE_MODES)}, not {self.long_messages!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./.tidings"
    database_url: str | None = None  # None: SQLite in data_dir
    redis_url: str | None = None  # None: in-process queue and limits
    # PostgreSQL: a statement, commit or close unanswered this long fails (TimeoutError) and its
    # connection is dropped (tidings.store.db): a connection cut without a reset (a host or the
    # network gone, no RST) would otherwise hold its caller until TCP keepalive gave up — hours,
    # and asyncpg turns no keepalive on. Far above any statement Tidings runs (retention deletes
    # a chunk at a time).
    database_timeout_seconds: float = 60.0
    redis_prefix: str = "tidings:"  # every Redis key (stream, token buckets) starts with it
    host: str = "127.0.0.1"
    port: int = 8080
    smpp_port: int | None = None  # the SMPP gateway for customers (ESMEs); None: not started, 0: any
    # The gateway's certificate chain and key (PEM): with both, customers connect over TLS.
    smpp_tls_cert_file: str | None = None
    smpp_tls_key_file: str | None = None
    public_url: str | None = None
    token_ttl_seconds: int = 3600
    default_expiry_seconds: int = 3 * 24 * 3600
    max_recipients: int = 1000
    max_body_length: int = 2000
    dispatch_lease_seconds: float = 60.0  # a claimed delivery not settled by then is sent again
    stream_claim_idle_seconds: float = 30.0  # a stream entry pending this long is taken over
    # Distributed profile: a process whose clock is further than this from the database's does
    # not start (leases are judged by each process's clock; `tidings.runtime.clock_check`).
    max_clock_skew_seconds: float = 10.0
    sweep_stale_seconds: float = 5.0  # how often lost, expired and orphaned work is looked for
    webhook_max_age_seconds: float = 72 * 3600
    webhook_retry_base_seconds: float = 1.0  # first retry delay of a failing receiver, doubling
    # How often a webhook sender looks for webhooks another process wrote; those its own process
    # commits wake it at once (`Database.after_write`).
    webhook_poll_seconds: float = 0.25
    webhook_retention_seconds: float = 7 * 24 * 3600  # finished outbox rows kept for inspection
    # Parts of a concatenated MO that stop coming: what arrived is stored as the message after
    # this long; a stored message's parts are kept as long again to recognise redelivered ones.
    mo_reassembly_seconds: float = 600.0
    # A receipt for a message id no submission has after this long names a message we did not
    # send (another system on the SMSC account) or sent again under a new id: dropped.
    orphan_receipt_seconds: float = 3600.0
    # A receipt answered to the SMSC and written to the inbox (distributed profile) that is still
    # there after this long was left by a worker that died before applying it: the sweeper
    # applies it. Its own writer applies each within moments; one applied twice changes nothing.
    receipt_inbox_grace_seconds: float = 30.0
    # After SIGINT or SIGTERM, HTTP requests still being answered this long are cancelled (their
    # callers get no answer; what a request commits, it commits before answering, so none is lost).
    shutdown_grace_seconds: float = 30.0
    # A message the SMSC accepted and never sent a receipt for is Unknown (Sinch's "dispatched,
    # no receipt") once its batch's expire_at is this far behind: by then the SMSC has stopped
    # trying (submit_sm carries expire_at as its validity period); a late receipt still counts.
    receipt_wait_seconds: float = 3600.0
    # SMS batches whose messages can no longer change (with their deliveries, submissions and
    # costs) and inbound messages are deleted this long after they were created; 0 keeps them.
    message_retention_seconds: float = 30 * 24 * 3600
    smpp_connections: tuple[SmppConnectionSettings, ...] = field(default_factory=tuple)
    # Embedded profile: more sandbox SMSCs (routes) beside the default one, each a dict with a
    # "name" and SmppConnectionSettings' routing fields (prices, currency, priority, throughput).
    sandbox_smscs: tuple[dict[str, object], ...] = field(default_factory=tuple)
    channel_timeout_seconds: float = 10.0  # a messaging platform's API call (WhatsApp, RBM…)
    voice_url: str | None = None  # the voice network's REST root (`tidings sandbox`: …/sandbox/v1)

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        for name, conv in (
            ("data_dir", str),
            ("database_url", str),
            ("redis_url", str),
            ("database_timeout_seconds", float),
            ("redis_prefix", str),
            ("public_url", str),
            ("smpp_port", int),
            ("smpp_tls_cert_file", str),
            ("smpp_tls_key_file", str),
            ("token_ttl_seconds", int),
            ("max_recipients", int),
            ("dispatch_lease_seconds", float),
            ("stream_claim_idle_seconds", float),
            ("max_clock_skew_seconds", float),
            ("sweep_stale_seconds", float),
            ("webhook_retry_base_seconds", float),
            ("webhook_poll_seconds", float),
            ("mo_reassembly_seconds", float),
            ("orphan_receipt_seconds", float),
            ("receipt_inbox_grace_seconds", float),
            ("shutdown_grace_seconds", float),
            ("receipt_wait_seconds", float),
            ("message_retention_seconds", float),
            ("webhook_retention_seconds", float),
            ("channel_timeout_seconds", float),
            ("voice_url", str),
        ):
            raw = env.get(f"TIDINGS_{name.upper()}")
            if raw:
                values[name] = conv(raw)
        raw_smscs = env.get("TIDINGS_SANDBOX_SMSCS")
        if raw_smscs:
            values["sandbox_smscs"] = parse_sandbox_smscs(raw_smscs)
        raw_smpp = env.get("TIDINGS_SMPP_CONNECTIONS")
        if raw_smpp:
            values["smpp_connections"] = parse_smpp_connections(raw_smpp)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def parse_smpp_connections(raw: str) -> tuple[SmppConnectionSettings, ...]:
    """`TIDINGS_SMPP_CONNECTIONS`: a JSON list of objects with SmppConnectionSettings' fields,
    e.g. [{"name": "carrier-a", "host": "10.0.0.5", "port": 2775, "system_id": "x",
    "password": "y", "window": 64, "throughput": 200}]."""
    items = json.loads(raw)
    if not isinstance(items, list):
        raise ValueError("TIDINGS_SMPP_CONNECTIONS must be a JSON list")
    return tuple(SmppConnectionSettings(**item) for item in items)


def parse_sandbox_smscs(raw: str) -> tuple[dict[str, object], ...]:
    """`TIDINGS_SANDBOX_SMSCS`: a JSON list such as [{"name": "cheap", "prices": {"46": 0.01}},
    {"name": "premium", "prices": {"46": 0.03}}]: `tidings serve` starts one more sandbox SMSC per
    item and routes over all of them (docs/subsystems/routing.md)."""
    items = json.loads(raw)
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                              for i in items):
        raise ValueError("TIDINGS_SANDBOX_SMSCS must be a JSON list of objects with a \"name\"")
    return tuple(items)
