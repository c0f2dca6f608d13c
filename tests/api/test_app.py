"""The application shell: health, OAuth2 tokens, XMS authentication and error rendering."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tidings.api.testing import ApiServer, oauth_client


async def test_health_pings_the_database(api: ApiServer) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{api.base_url}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_oauth_token_has_the_four_fields_and_sdk_accepts_it(api: ApiServer) -> None:
    creds = await api.project()
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                            data={"grant_type": "client_credentials"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == api.ctx.settings.token_ttl_seconds
    client = oauth_client(api.base_url, creds)
    token = await asyncio.to_thread(client.authentication.get_auth_token)
    assert token.access_token.startswith(creds.project_id + ".")


@pytest.mark.parametrize("wrong", ["key", "secret"])
async def test_oauth_wrong_credentials_are_401(api: ApiServer, wrong: str) -> None:
    creds = await api.project()
    key_id = "nope" if wrong == "key" else creds.key_id
    secret = "nope" if wrong == "secret" else creds.key_secret
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{api.base_url}/oauth2/token", auth=(key_id, secret),
                            data={"grant_type": "client_credentials"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


async def test_oauth_requires_client_credentials_grant(api: ApiServer) -> None:
    creds = await api.project()
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                            data={"grant_type": "password"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


async def test_xms_without_or_with_bad_token_is_401_in_xms_format(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    async with httpx.AsyncClient() as http:
        missing = await http.get(url)
        bad = await http.get(url, headers={"Authorization": "Bearer not-a-token"})
        forged = await http.get(api.xms_url(creds.project_id, "/batches"),
                                headers={"Authorization": f"Bearer {creds.project_id}.99999999999999.AAAA"})
    for r in (missing, bad, forged):
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"
        assert "text" in r.json()
        assert "www-authenticate" in r.headers
        assert "expired" not in r.headers["www-authenticate"]


async def test_unknown_route_is_xms_404(api: ApiServer) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{api.base_url}/xms/v1/x/nothing/here")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
