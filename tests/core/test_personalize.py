"""XMS parameter placeholders: `${name}` with the names XMS allows (letters, digits, `.`, `-`, `_`)."""

from __future__ import annotations

from tidings.core.personalize import render_body

PARAMETERS = {
    "first.name": {"+46700000001": "Ann", "default": "friend"},
    "last-name": {"46700000002": "Lee"},
    "x_1": {"default": "!"},
}


def test_names_with_dots_dashes_and_underscores_are_filled() -> None:
    body = "Hi ${first.name} ${last-name}${x_1}"
    assert render_body(body, PARAMETERS, "+46700000001") == "Hi Ann ${last-name}!"
    assert render_body(body, PARAMETERS, "+46700000002") == "Hi friend Lee!"


def test_other_placeholders_are_left_as_written() -> None:
    body = "${first name} ${first.name.} ${} $first.name"
    assert render_body(body, PARAMETERS, "+46700000001") == body
