"""Drives the official `sinch` SDK 1.1.4 (the last release with Verification) against a server.

Run with the interpreter of the SDK's own virtual environment:

    python sdk_driver.py '{"origin": "127.0.0.1:8080", "key": "...", "secret": "...",
                           "calls": [["start_sms", {"identity": {...}, "reference": "r1"}], ...]}'

Each call is `[method, kwargs]`, a method of `client.verification.verifications` or (with a
"status." prefix) of `client.verification.verification_status`. Prints one JSON list with, per
call, {"ok": true, "result": {...}} or {"ok": false, "status": <HTTP>, "body": {...}, "message": ...}.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import Enum
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def main() -> None:
    from sinch import SinchClient
    from sinch.core.exceptions import SinchException

    spec = json.loads(sys.argv[1])
    client = SinchClient(application_key=spec["key"], application_secret=spec["secret"])
    client.configuration.verification_origin = spec["origin"]
    client.configuration.disable_https = True
    out = []
    for name, kwargs in spec["calls"]:
        target = client.verification.verifications
        if name.startswith("status."):
            target, name = client.verification.verification_status, name.removeprefix("status.")
        try:
            result = getattr(target, name)(**kwargs)
        except SinchException as exc:
            response = getattr(exc, "http_response", None) or getattr(exc, "response", None)
            out.append({"ok": False, "message": str(getattr(exc, "message", exc)),
                        "status": getattr(response, "status_code", None),
                        "body": getattr(response, "body", None)})
        else:
            out.append({"ok": True, "type": type(result).__name__, "result": _plain(result)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
