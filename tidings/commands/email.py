"""`tidings email dns-records --domain mail.example.com`: the SPF, DKIM and DMARC records to
publish for a sending domain, as zone-file lines (the DKIM key is generated on first use in
<data-dir>/dkim/<domain>/<selector>.pem, the same key the email connector signs with).

    tidings email dns-records --domain mail.example.com --spf "ip4:203.0.113.7" \\
        --mx inbound.example.com --dmarc-rua dmarc@example.com
"""

from __future__ import annotations

import argparse
import json
import os

from tidings.commands import add_data_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    email = sub.add_parser("email", help="email channel tools")
    email_sub = email.add_subparsers(dest="email_command", required=True)
    records = email_sub.add_parser("dns-records", help="print the DNS records of sending domains")
    records.add_argument("--domain", action="append", required=True,
                         help="a sending domain (repeat for transactional and promotional)")
    records.add_argument("--spf", default="ip4:127.0.0.1",
                         help="SPF mechanisms for the hosts that send (default ip4:127.0.0.1)")
    records.add_argument("--mx", default=None, help="host of the inbound listener (bounces, replies)")
    records.add_argument("--dmarc-policy", default="quarantine", choices=["none", "quarantine", "reject"])
    records.add_argument("--dmarc-rua", default=None, help="address for DMARC aggregate reports")
    records.add_argument("--key-dir", default=None, help="default <data-dir>/dkim")
    records.add_argument("--json", action="store_true", help="print JSON instead of zone lines")
    add_data_dir(records)
    records.set_defaults(run=_run_dns_records)


def _run_dns_records(args: argparse.Namespace) -> int:
    from tidings.channels.email.dkim_keys import DkimKeys, dns_records

    keys = DkimKeys(args.key_dir or os.path.join(args.data_dir, "dkim"))
    out = []
    for domain in args.domain:
        key = keys.key_for(domain)
        out.extend(dns_records(key, spf_mechanisms=args.spf, dmarc_policy=args.dmarc_policy,
                               dmarc_rua=args.dmarc_rua, mx_host=args.mx))
    if args.json:
        print(json.dumps([{"name": r.name, "type": r.type, "value": r.value} for r in out], indent=2))
    else:
        for record in out:
            print(record.zone_line())
    return 0
