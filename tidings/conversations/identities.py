"""App-scoped channel identities: which of a contact's identities an app reaches a person by.

On Messenger, Instagram, LINE and WeChat (Sinch's app-scoped channels) the platform gives each
app's page or account its own id for a person, so a contact's identity there carries the
`app_id` it belongs to and a contact may have one per app. Elsewhere an identity (a phone
number, a Telegram chat id) reaches the person from every app; it may still name an app.

An identity is `(channel, identity, app_id)` with `app_id` "" when it names none. For an app, on
each channel, the identity used is: the app's own, else the app-less one, else — not on an
app-scoped channel — another app's. An identity of another app on an app-scoped channel is never
used: that id means nothing to this app's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["APP_SCOPED_CHANNELS", "Identity", "as_json", "pick", "rank", "reachable_by"]

APP_SCOPED_CHANNELS = frozenset({"MESSENGER", "INSTAGRAM", "LINE", "WECHAT"})

Identity = tuple[str, str, str]  # (channel, identity, app_id or "")


def rank(channel: str, owner: str, app_id: str | None) -> int | None:
    """How well an identity of `owner` ("" none) on `channel` suits `app_id` (None: any app):
    0 its own, 1 app-less, 2 another app's where that still reaches the person; None unusable."""
    if app_id is None:
        return 1 if not owner else 2
    if owner == app_id:
        return 0
    if not owner:
        return 1
    return None if channel in APP_SCOPED_CHANNELS else 2


def reachable_by(identities: Iterable[Identity], app_id: str) -> list[tuple[str, str]]:
    """`(channel, identity)` per channel the app reaches the person on, channels in the order
    they first appear in `identities`."""
    best: dict[str, tuple[int, str]] = {}
    for channel, identity, owner in identities:
        score = rank(channel, owner, app_id)
        if score is None:
            best.setdefault(channel, (9, ""))
            continue
        if channel not in best or score < best[channel][0]:
            best[channel] = (score, identity)
    return [(channel, identity) for channel, (score, identity) in best.items() if score < 9]


def pick(rows: Sequence[Any], channel: str, app_id: str | None) -> Any:
    """The row (with `.app_id`) among those matching one (channel, identity) that `app_id`
    means, or None."""
    scored = [(score, n) for n, r in enumerate(rows)
              if (score := rank(channel, r.app_id or "", app_id)) is not None]
    return rows[min(scored)[1]] if scored else None


def as_json(channel: str, identity: str, app_id: str) -> dict[str, str]:
    """A channel identity as the API shows it (`app_id` only when it names one)."""
    out = {"channel": channel, "identity": identity}
    if app_id:
        out["app_id"] = app_id
    return out
