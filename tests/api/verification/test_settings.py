"""Application settings no verification could work with are refused when set; a malformed callback
URL already stored denies a start ("Invalid callback") instead of failing it with a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tidings.actions.verify_apps import do_configure_app
from tidings.api.testing import ApiServer
from tidings.core.errors import RequestError
from tidings.store.verify_schema import verify_apps

from .helpers import BASE, VerifyClient


@pytest.mark.parametrize("changes", [
    {"max_attempts": 0}, {"max_attempts": 1000}, {"max_attempts": "3"}, {"max_resends": -1},
    {"expiry_seconds": 0}, {"expiry_seconds": 10**9}, {"code_length": True}, {"code_length": 40},
    {"code_alphabet": ["0", "1"]}, {"code_alphabet": "00"},
    {"callback_url": "http://[::1/cb"}, {"callback_url": "http://"}, {"callback_url": "ftp://x/cb"},
])
async def test_unworkable_settings_are_refused(api: ApiServer, changes: dict[str, Any]) -> None:
    creds = await api.project("s")
    with pytest.raises(RequestError) as refused:
        await do_configure_app(api.ctx.db, creds.application_key, changes)
    assert refused.value.code == "40001"


async def test_workable_settings_are_kept(api: ApiServer) -> None:
    creds = await api.project("s")
    assert await do_configure_app(api.ctx.db, creds.application_key, {
        "max_attempts": 5, "max_resends": 0, "expiry_seconds": 300, "code_length": 6, "code_alphabet": "0123456789",
        "callback_url": "https://example.test/cb"})


async def test_a_malformed_stored_callback_url_denies_instead_of_a_500(api: ApiServer) -> None:
    creds = await api.project("s")
    async with api.ctx.db.write() as conn:
        await conn.execute(update(verify_apps).where(verify_apps.c.key == creds.application_key)
                           .values(callback_url="http://[::1/cb"))
    async with httpx.AsyncClient(timeout=10) as http:
        client = VerifyClient(http, api.base_url, creds, api.clock)
        r = await client.start("+46701115555")
        assert r.status_code == 403 and r.json()["errorCode"] == 40300, r.text
        assert "Invalid callback" in r.json()["message"]
        assert (await client.call("GET", f"{BASE}/sms/number/+46701115555")).json()["status"] == "DENIED"
