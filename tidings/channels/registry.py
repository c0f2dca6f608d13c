"""Conversation connectors by id: every `tidings/channels/<id>/` package with a `manifest.json`
and a `create(ctx: ConnectorContext)` factory.

A connector is enabled when its package exists and it has a base URL:

    TIDINGS_CHANNEL_<ID>_URL                     the platform API (e.g. the real Graph API)
    else {public_url}/sandbox/platforms/{twin}   the sandbox twin named by the manifest's
                                                 "sandbox_twin" (tidings.sandbox.platforms.<twin>)
    else the manifest's "default_base_url"

Options for a connector come from `TIDINGS_CHANNEL_<ID>_OPTIONS` (a JSON object) plus what the
runtime passes (`extra_options`; its "base_url" key, when given, is the base URL). In string
options `{public_url}` stands for where Tidings is reachable (e.g. the email connector's
`"dns_console_url": "{public_url}/sandbox/v1/dns"`). `sms_conversation` (SMS through the SMS pipeline) needs the
worker's `Context` and is built by the runtime with it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tidings.channels.contract import (
    ConnectorContext,
    ConnectorFactory,
    ConversationConnector,
)
from tidings.channels.http_client import PlatformHttp

log = logging.getLogger(__name__)

__all__ = ["OVERRIDES", "Available", "available", "build", "sandbox_twin_factories"]

# Connector factories that replace whatever serves their channel (tests, embedding
# applications): id -> (channel, factory).
OVERRIDES: dict[str, tuple[str, ConnectorFactory]] = {}


@dataclass(frozen=True)
class Available:
    id: str
    channel: str
    manifest: dict[str, Any]
    factory: ConnectorFactory


def available() -> dict[str, Available]:
    """Every connector package with a manifest and a `create` factory, by id."""
    out: dict[str, Available] = {}
    root = resources.files("tidings.channels")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        manifest_file = entry / "manifest.json"
        if not entry.is_dir() or not manifest_file.is_file():
            continue
        manifest = json.loads(manifest_file.read_text("utf-8"))
        try:
            module = importlib.import_module(f"tidings.channels.{entry.name}")
        except Exception:  # noqa: BLE001 - a broken connector must not take the others down
            log.exception("connector %s failed to import", entry.name)
            continue
        factory = getattr(module, "create", None)
        if callable(factory) and manifest.get("channel"):
            out[entry.name] = Available(entry.name, manifest["channel"], manifest, factory)
    return out


def _twin_name(manifest: Mapping[str, Any]) -> str | None:
    module = str(manifest.get("sandbox_twin") or "")
    prefix = "tidings.sandbox.platforms."
    return module[len(prefix):] if module.startswith(prefix) else None


def base_url(item: Available, public_url: str, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    configured = env.get(f"TIDINGS_CHANNEL_{item.id.upper()}_URL")
    if configured:
        return configured.rstrip("/")
    twin = _twin_name(item.manifest)
    if twin and public_url:
        return f"{public_url.rstrip('/')}/sandbox/platforms/{twin}"
    default = item.manifest.get("default_base_url")
    return str(default) if default else (public_url or None)


def build(public_url: str, http: PlatformHttp, clock: Callable[[], int], *,
          extra_options: Mapping[str, Mapping[str, Any]] | None = None,
          only: set[str] | None = None, env: Mapping[str, str] | None = None
          ) -> dict[str, ConversationConnector]:
    """The enabled connectors, by id."""
    env = os.environ if env is None else env
    out: dict[str, ConversationConnector] = {}
    for item in available().values():
        if only is not None and item.id not in only:
            continue
        options: dict[str, Any] = {}
        raw = env.get(f"TIDINGS_CHANNEL_{item.id.upper()}_OPTIONS")
        if raw:
            options.update(json.loads(raw))
        options.update((extra_options or {}).get(item.id, {}))
        options = {k: v.replace("{public_url}", public_url.rstrip("/")) if isinstance(v, str) else v
                   for k, v in options.items()}
        url = options.pop("base_url", None) or base_url(item, public_url, env)
        if url is None:
            continue
        try:
            out[item.id] = item.factory(ConnectorContext(url, http, clock, public_url, options))
        except Exception:  # noqa: BLE001 - misconfigured: the others still work
            log.exception("connector %s could not be created", item.id)
    for cid, (channel, factory) in OVERRIDES.items():
        for other in [k for k, c in out.items() if c.channel == channel]:
            del out[other]
        out[cid] = factory(ConnectorContext(public_url, http, clock, public_url, {}))
    return out


def sandbox_twin_factories() -> list[Callable[..., Any]]:
    """`create_twin` of every module in tidings/sandbox/platforms/ that has one."""
    out = []
    root = resources.files("tidings.sandbox.platforms")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        module = importlib.import_module(f"tidings.sandbox.platforms.{entry.name[:-3]}")
        factory = getattr(module, "create_twin", None)
        if callable(factory):
            out.append(factory)
    return out
