"""Number Lookup v2 through the official `sinch` SDK's number_lookup client, and on the wire."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import httpx
import pytest
from sinch.domains.number_lookup.exceptions import NumberLookupException

from tidings.actions.projects import ProjectCredentials
from tidings.api.testing import ApiServer, oauth_client
from tidings.lookup import SandboxNumbers
from tidings.sandbox import Sandbox

MOBILE = "+46701234567"
LANDLINE = "+4930123456"
VOIP = "+445612345678"


def lookup_client(api: ApiServer, creds: ProjectCredentials) -> Any:
    client = oauth_client(api.base_url, creds)
    client.configuration.number_lookup_origin = api.base_url
    return client.number_lookup


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def token(api: ApiServer, creds: ProjectCredentials) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{api.base_url}/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(creds.key_id, creds.key_secret))
    return str(response.json()["access_token"])


async def test_sdk_line_type_from_the_numbering_plan(api: ApiServer) -> None:
    lookup = lookup_client(api, await api.project())
    result = await call(lookup.lookup, number=MOBILE)
    assert result.number == MOBILE and result.country_code == "SE" and len(result.trace_id) == 32
    assert (result.line.type, result.line.carrier, result.line.ported) == ("Mobile", "SPINBOX AB", None)
    assert result.sim_swap is None and result.voip_detection is None and result.rnd is None
    landline = await call(lookup.lookup, number=LANDLINE, features=["LineType", "VoIPDetection"])
    assert (landline.line.type, landline.country_code, landline.voip_detection.probability) == ("Landline", "DE", "Low")
    voip = await call(lookup.lookup, number=VOIP, features=["VoIPDetection"])
    assert voip.voip_detection.probability == "High" and voip.line is None


async def test_sdk_without_a_live_network_live_features_carry_errors(api: ApiServer) -> None:
    lookup = lookup_client(api, await api.project())
    result = await call(lookup.lookup, number=MOBILE, features=["SimSwap", "RND"],
                        rnd_feature_options={"contact_date": "2024-01-31"})
    assert result.sim_swap.error.status == 501 and result.sim_swap.swapped is None
    assert result.rnd.error.status == 501 and "live network" in result.rnd.error.detail


async def test_sdk_live_facts_from_the_sandbox(api: ApiServer) -> None:
    sandbox = Sandbox(seed=1)
    api.ctx.live_numbers = SandboxNumbers(sandbox)  # type: ignore[attr-defined]
    handset = sandbox.handset(MOBILE)
    handset.ported, handset.carrier, handset.reachable = True, "Telia", False
    sandbox.handset("+46709999999").line_type = "voip"
    lookup = lookup_client(api, await api.project())
    result = await call(lookup.lookup, number=MOBILE, features=["LineType", "SimSwap", "RND", "VoIPDetection"],
                        rnd_feature_options={"contact_date": date(2024, 1, 31)})
    assert (result.line.type, result.line.carrier, result.line.ported) == ("Mobile", "Telia", True)
    assert (result.sim_swap.swapped, result.sim_swap.swap_period) == (False, "Undefined")
    assert result.rnd.disconnected is True and result.rnd.error is None
    assert result.voip_detection.probability == "Low"
    other = await call(lookup.lookup, number="+46709999999", features=["LineType", "VoIPDetection", "RND"],
                       rnd_feature_options={"contact_date": "2024-01-31"})
    assert (other.line.type, other.line.ported, other.voip_detection.probability) == ("VoIP", False, "High")
    assert other.rnd.disconnected is False


@pytest.mark.parametrize(("kwargs", "detail"), [
    ({"number": "+999123"}, "not a valid phone number"),
    ({"number": MOBILE, "features": ["LineType", "Colour"]}, "unknown features"),
    ({"number": MOBILE, "features": ["RND"]}, "contactDate"),
])
async def test_sdk_bad_requests_are_problem_details(api: ApiServer, kwargs: dict[str, Any], detail: str) -> None:
    lookup = lookup_client(api, await api.project())
    with pytest.raises(NumberLookupException) as caught:
        await call(lookup.lookup, **kwargs)
    response = caught.value.http_response
    assert caught.value.response_status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.body
    assert body["status"] == 400 and body["title"] == "Bad Request" and detail in body["detail"]
    assert body["instance"].endswith("/lookups")


async def test_wire_auth_errors_and_routes(api: ApiServer) -> None:
    creds = await api.project()
    url = f"{api.base_url}/v2/projects/{creds.project_id}/lookups"
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, json={"number": MOBILE})
        assert missing.status_code == 401 and missing.json()["status"] == 401
        assert "WWW-Authenticate" in missing.headers
        assert missing.headers["content-type"] == "application/problem+json"
        plan_token = await http.post(url, json={"number": MOBILE}, headers={"Authorization": f"Bearer {creds.api_token}"})
        assert plan_token.status_code == 401
        bearer = {"Authorization": f"Bearer {await token(api, creds)}"}
        ok = await http.post(url, json={"number": "46 70 123 45 67", "features": []}, headers=bearer)
        assert ok.status_code == 200
        assert ok.json() == {"line": {"carrier": "SPINBOX AB", "type": "Mobile", "mobileCountryCode": None,
                                      "mobileNetworkCode": None, "ported": None, "portingDate": None},
                             "countryCode": "SE", "traceId": ok.json()["traceId"], "number": MOBILE}
        other = await api.project("other")
        wrong_project = await http.post(f"{api.base_url}/v2/projects/{other.project_id}/lookups",
                                        json={"number": MOBILE}, headers=bearer)
        assert wrong_project.status_code == 401
        bad_json = await http.post(url, content=b"{", headers=bearer)
        assert bad_json.status_code == 400 and "JSON" in bad_json.json()["detail"]
        not_object = await http.post(url, json=["+46701234567"], headers=bearer)
        assert not_object.status_code == 400
        no_route = await http.post(f"{api.base_url}/v2/projects/{creds.project_id}/lookupz", json={}, headers=bearer)
        assert no_route.status_code == 404 and no_route.json()["status"] == 404
        wrong_method = await http.get(url, headers=bearer)
        assert wrong_method.status_code == 405 and wrong_method.json()["title"] == "Method Not Allowed"
