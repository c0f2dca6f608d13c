"""The Messenger connector's public surface, manifest and discovery by the registry."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

import tidings.channels.messenger as package
import tidings.sandbox.platforms.messenger as twin_module
from tidings.channels import registry
from tidings.channels.contract import ChannelFeature


def test_manifest_matches_the_connector() -> None:
    manifest = json.loads((Path(package.__file__).parent / "manifest.json").read_text())
    connector = package.MessengerConnector
    assert manifest["id"] == connector.id == Path(package.__file__).parent.name
    assert manifest["channel"] == connector.channel == "MESSENGER"
    assert {f.name for f in ChannelFeature if f in connector.features} == set(manifest["features"])
    assert manifest["sandbox_twin"] == twin_module.__name__
    assert manifest["docs"].startswith("https://developers.facebook.com/docs/messenger-platform")


def test_exported_names() -> None:
    assert package.__all__ == ["MessengerConnector", "create"]
    assert twin_module.__all__ == ["MessengerTwin", "Page", "create_twin"]


async def test_registry_finds_it_and_points_it_at_the_twin() -> None:
    assert registry.available()["messenger"].channel == "MESSENGER"
    assert twin_module.create_twin in registry.sandbox_twin_factories()
    async with httpx.AsyncClient() as http:
        built = registry.build("http://127.0.0.1:9", http, lambda: 0, only={"messenger"}, env={})
        assert built["messenger"].ctx.base_url == "http://127.0.0.1:9/sandbox/platforms/messenger"  # type: ignore[attr-defined]
        real = registry.build("http://127.0.0.1:9", http, lambda: 0, only={"messenger"},
                              env={"TIDINGS_CHANNEL_MESSENGER_URL": "https://graph.facebook.com/"})
        assert real["messenger"].ctx.base_url == "https://graph.facebook.com"  # type: ignore[attr-defined]
        assert not real["messenger"].register_webhook  # type: ignore[attr-defined]
