"""What the platform twins keep across a sandbox restart (a data directory): their registrations,
conversation windows and the ids they gave, so that Tidings goes on working with a restarted
sandbox without configuring anything again — and a Telegram message id is never given twice
(Tidings takes a message id it has seen for a redelivery and drops the message)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import messenger, rbm, telegram, viber, whatsapp
from tidings.sandbox.state_file import state_path

USER = "+46701234567"
BOT_TOKEN = "5550001:sandbox-token_ABC"
PNID = "1234567"


def sandbox_at(data_dir: Path) -> Sandbox:
    sandbox = Sandbox(seed=1, data_dir=str(data_dir))
    for module in (whatsapp, messenger, telegram, viber, rbm):
        sandbox.register_platform(module.create_twin(sandbox))
    return sandbox


def twin(sandbox: Sandbox, channel: str) -> Any:
    return sandbox.platforms[channel]


async def test_registrations_windows_and_ids_are_kept(tmp_path: Path) -> None:
    taken: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        taken.append(json.loads(await request.body()))
        return Response("ok")

    async with serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        first = sandbox_at(tmp_path)
        await first.start()
        handset = first.handset(USER)
        handset.capabilities = ["SMS", "WHATSAPP", "MESSENGER", "TELEGRAM", "VIBER", "RCS"]
        wa = twin(first, "WHATSAPP")
        wa.register(PNID, access_token="tok", app_secret="s", webhook_url=f"{url}/hook")
        wa.templates.put({"name": "promo", "language": "sv", "components": [{"type": "BODY", "text": "Hej"}]})
        await wa.handset_sends(handset, PNID, body="hello", postback=None)  # opens the 24-hour window
        bot = twin(first, "TELEGRAM").bot(BOT_TOKEN)
        bot.webhook_url = f"{url}/hook"
        ids = [await twin(first, "TELEGRAM").handset_sends(handset, str(bot.bot_id), body=text, postback=None)
               for text in ("one", "two")]
        twin(first, "MESSENGER").register("page-1", access_token="ptok", webhook_url=f"{url}/hook")
        twin(first, "RCS").add_agent("shop@rbm.goog", "rtok")
        twin(first, "RCS").offline.add(USER)
        twin(first, "VIBER").unsubscribed.add(("acc-1", "user-1"))
        before = {channel: twin(first, channel).saved()
                  for channel in ("WHATSAPP", "MESSENGER", "VIBER", "RCS")}
        await first.stop()

        again = sandbox_at(tmp_path)
        await again.start()
        try:
            for channel, kept in before.items():
                assert twin(again, channel).saved() == kept, channel
            wa = twin(again, "WHATSAPP")
            assert wa.numbers[PNID].webhook_url == f"{url}/hook"  # nothing to register again
            assert wa.window_open(PNID, USER)  # a free-form reply is still allowed
            assert any(t["name"] == "promo" for t in wa.templates.all())
            tg = twin(again, "TELEGRAM")
            assert tg.bot(BOT_TOKEN).webhook_url == f"{url}/hook"
            updates_before = [u["update_id"] for u in taken if "update_id" in u]
            third = await tg.handset_sends(again.handset(USER), "5550001", body="three", postback=None)
            chat = ids[0].split(":")[0]
            assert [ids[0], ids[1], third] == [f"{chat}:1", f"{chat}:2", f"{chat}:3"]  # not 1 again
            update_ids = [u["update_id"] for u in taken if "update_id" in u]
            assert update_ids[-1] == updates_before[-1] + 1
        finally:
            await again.stop()


async def test_a_twin_whose_kept_state_cannot_be_read_starts_without_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = sandbox_at(tmp_path)
    await first.start()
    twin(first, "WHATSAPP").register(PNID, access_token="tok")
    twin(first, "RCS").add_agent("shop@rbm.goog", "rtok")
    await first.stop()
    path = Path(state_path(str(tmp_path)))
    document = json.loads(path.read_text())
    document["platforms"]["whatsapp"]["saved"]["windows"] = "not a list"
    path.write_text(json.dumps(document))

    again = sandbox_at(tmp_path)
    with caplog.at_level(logging.WARNING, "tidings.sandbox.state"):
        await again.start()
    try:
        assert "whatsapp twin kept cannot be read" in caplog.text
        assert twin(again, "WHATSAPP").numbers == {}  # nothing half taken
        assert "shop@rbm.goog" in twin(again, "RCS").agents  # the others as saved
    finally:
        await again.stop()
