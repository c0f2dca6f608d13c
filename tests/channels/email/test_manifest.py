"""The email connector's public surface and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import tidings.channels.email as package
import tidings.sandbox.mail as sandbox_mail
from tidings.channels.contract import ChannelFeature


def test_manifest_matches_the_connector() -> None:
    manifest = json.loads((Path(package.__file__).parent / "manifest.json").read_text())
    assert manifest["id"] == "email" == package.EmailConnector.id
    assert manifest["channel"] == "EMAIL" == package.EmailConnector.channel
    assert {ChannelFeature[name] for name in manifest["features"]} == set(package.EmailConnector.features)
    assert manifest["sandbox_twin"] == sandbox_mail.__name__


def test_exported_names() -> None:
    assert package.__all__ == ["EmailConnector", "create"]
    assert sandbox_mail.__all__ == ["MailServer", "Mailbox", "StoredMail", "create_mail_server", "dkim_verdict",
                                    "smtp_send"]
