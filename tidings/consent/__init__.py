"""The consent ledger service: record, query and export consent; keywords; double opt-in.

    ledger.py     record events (append-only) and keep the current state; queries; check_consent
    identity.py   normalising identities and channels named by callers
    settings.py   per project and per sender settings (keywords, opt-out regimes)
    replies.py    confirmation replies sent through the SMS pipeline
    keywords.py   handle_inbound_keywords: the hook every inbound path calls
    double_opt_in.py  start a double opt-in; confirm it by reply or by signed link
    export.py     CSV and JSON exports, streamed

See docs/subsystems/consent.md.
"""
