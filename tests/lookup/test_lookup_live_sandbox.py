"""`tidings serve`'s Number Lookup sees the sandbox network's live facts: a handset configured
as ported with another carrier, or switched off, is reported so."""

from __future__ import annotations

import httpx

from tidings.testing.platform import Platform


async def token(platform: Platform, http: httpx.AsyncClient) -> str:
    response = await http.post(f"{platform.base_url}/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=(platform.creds.key_id, platform.creds.key_secret))
    return str(response.json()["access_token"])


async def test_lookup_reports_the_sandbox_handset(platform: Platform, http: httpx.AsyncClient) -> None:
    number = "+46701230077"
    put = await http.put(f"{platform.base_url}/sandbox/v1/handsets/{number}",
                         json={"ported": True, "reachable": False})
    assert put.status_code == 200, put.text
    headers = {"Authorization": f"Bearer {await token(platform, http)}"}
    response = await http.post(f"{platform.base_url}/v2/projects/{platform.creds.project_id}/lookups",
                               json={"number": number, "features": ["LineType", "RND"],
                                     "rndFeatureOptions": {"contactDate": "2026-01-01"}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["countryCode"] == "SE"
    if platform.profile == "embedded":
        assert body["line"]["ported"] is True
        assert body["rnd"]["disconnected"] is True
    else:  # no live network source in the distributed harness: the numbering plan only
        assert body["line"]["ported"] is None
        assert "error" in body["rnd"] or body["rnd"].get("disconnected") is None
