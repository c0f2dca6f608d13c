"""`tidings email dns-records`: the records printed are the ones that verify the connector's mail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dkim
import pytest

from tidings.channels.email.dkim_keys import DkimKeys
from tidings.cli import main


def test_dns_records_match_the_signing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["email", "dns-records", "--domain", "mail.example.com", "--domain", "news.example.com",
                 "--data-dir", str(tmp_path), "--spf", "ip4:203.0.113.7", "--mx", "in.example.com",
                 "--dmarc-rua", "dmarc@example.com"]) == 0
    lines = capsys.readouterr().out.splitlines()
    key = DkimKeys(tmp_path / "dkim", generate=False).key_for("mail.example.com")
    assert lines[0] == 'mail.example.com. 3600 IN TXT "v=spf1 ip4:203.0.113.7 -all"'
    assert lines[1].startswith(f"{key.selector}._domainkey.mail.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p=")
    assert re.fullmatch(r"td\d{8}", key.selector)
    assert lines[2] == ('_dmarc.mail.example.com. 3600 IN TXT '
                        '"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc@example.com"')
    assert lines[3] == "mail.example.com. 3600 IN MX 10 in.example.com."
    assert len(lines) == 8 and lines[4].startswith("news.example.com.")
    # the TXT strings, joined as a resolver does, verify a signature made with the stored key
    txt = "".join(re.findall(r'"([^"]*)"', lines[1]))
    signed = key.sign(b"From: a@mail.example.com\r\nTo: b@x.test\r\nSubject: s\r\n\r\nbody\r\n")
    assert dkim.verify(signed, dnsfunc=lambda _name, timeout=5: txt.encode())
    assert all(len(chunk) <= 255 for chunk in re.findall(r'"([^"]*)"', lines[1]))

    assert main(["email", "dns-records", "--domain", "mail.example.com", "--data-dir", str(tmp_path),
                 "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[1] == {"name": key.txt_name, "type": "TXT", "value": key.txt_value}
