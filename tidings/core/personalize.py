"""XMS body personalisation: `${name}` placeholders filled per recipient from `parameters`.

`parameters` maps a placeholder name to {recipient: value, "default": value}. A placeholder with
no value for the recipient and no default is left as written, as XMS does.

A name (XMS's parameter key) is letters A-Z and a-z, digits 0-9, `.`, `-` and `_`, at most
`MAX_PARAMETER_KEY` characters (`${first.name}` is one); a value is at most
`MAX_PARAMETER_VALUE` characters. `tidings.actions.batch_checks.check_parameters` refuses others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_PARAMETER_KEY = 16
MAX_PARAMETER_VALUE = 160
PARAMETER_KEY = re.compile(r"[A-Za-z0-9._\-]+")

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9._\-]+)\}")


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
