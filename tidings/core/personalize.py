"""XMS body personalisation: `${name}` placeholders filled per recipient from `parameters`.

`parameters` maps a placeholder name to {recipient: value, "default": value}. A placeholder with
no value for the recipient and no default is left as written, as XMS does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_\-]+)\}")


def render_body(body: str, parameters: Mapping[str, Mapping[str, str]] | None, recipient: str) -> str:
    if not parameters or "${" not in body:
        return body

    def value(match: re.Match[str]) -> str:
        values = parameters.get(match.group(1))
        if values is None:
            return match.group(0)
        found = values.get(recipient)
        if found is None and recipient.startswith("+"):
            found = values.get(recipient[1:])
        if found is None:
            found = values.get("default")
        return match.group(0) if found is None else str(found)

    return _PLACEHOLDER.sub(value, body)
