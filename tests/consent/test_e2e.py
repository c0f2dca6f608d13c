"""Consent end to end, in both profiles: a sandbox handset texts keywords over real SMPP, the
ledger records them with the inbound message as proof, the confirmation reaches the handset;
double opt-in by reply and by link; exports; Sinch consent lists."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tidings.policy.keywords import DEFAULT_REPLIES, KeywordKind
from tidings.testing.platform import Platform

from ..pipeline.helpers import wait_handset, wait_until

OURS = "+46700003001"


async def token(platform: Platform, http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post(f"{platform.base_url}/oauth2/token", auth=(platform.creds.key_id, platform.creds.key_secret),
                        data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def api(platform: Platform, path: str) -> str:
    return f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}{path}"


async def texts(platform: Platform, http: httpx.AsyncClient, handset: str, body: str) -> None:
    r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{handset.lstrip('+')}/messages",
                        json={"to": OURS, "body": body})
    assert r.status_code == 202, r.text


async def consent(platform: Platform, http: httpx.AsyncClient, auth: dict[str, str], handset: str) -> dict[str, Any]:
    r = await http.get(api(platform, f"/consents/{handset}"), headers=auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_events(platform: Platform, http: httpx.AsyncClient, auth: dict[str, str], handset: str,
                      count: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await consent(platform, http, auth, handset)
        return body if len(body["history"]) >= count else None

    return await wait_until(check, f"{count} consent event(s) for {handset}")  # type: ignore[no-any-return]


KEYWORD_BY_LANGUAGE = {"en": "Stop", "fr": "ARRÊT", "es": "baja", "de": "Stopp!", "pt": "Sair", "it": "BASTA"}


async def test_stop_in_each_language_is_recorded_and_confirmed(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    handsets = {lang: f"+4670131{i:04d}" for i, lang in enumerate(KEYWORD_BY_LANGUAGE)}
    for lang, handset in handsets.items():
        await platform.send(http, to=[handset], body="Welcome to Acme", **{"from": OURS})
    for handset in handsets.values():
        await wait_handset(platform, http, handset, 1)
    for lang, handset in handsets.items():
        await texts(platform, http, handset, KEYWORD_BY_LANGUAGE[lang])
    for lang, handset in handsets.items():
        received = await wait_handset(platform, http, handset, 2)
        assert received[1]["body"] == DEFAULT_REPLIES[lang][KeywordKind.OPT_OUT]
        body = await wait_events(platform, http, auth, handset, 1)
        [event] = body["history"]
        assert (event["channel"], event["purpose"], event["action"], event["source"]) == ("SMS", "*", "opt_out", "keyword")
        assert event["proof"]["text"] == KEYWORD_BY_LANGUAGE[lang] and event["proof"]["message_id"]
        assert event["proof"]["reply_ref"]
        check = await http.get(api(platform, f"/consents/{handset}/check"),
                               params={"channel": "SMS", "purpose": "information"}, headers=auth)
        assert check.json()["allowed"] is False and check.json()["reason_code"] == "consent_opted_out"


async def test_help_and_start(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    handset = "+46701320001"
    await platform.send(http, to=[handset], body="Welcome", **{"from": OURS})
    await wait_handset(platform, http, handset, 1)
    await texts(platform, http, handset, "help")
    received = await wait_handset(platform, http, handset, 2)
    assert received[1]["body"] == DEFAULT_REPLIES["en"][KeywordKind.HELP]
    assert (await consent(platform, http, auth, handset))["history"] == []
    await texts(platform, http, handset, "STOP")
    await wait_handset(platform, http, handset, 3)
    await texts(platform, http, handset, "START")
    received = await wait_handset(platform, http, handset, 4)
    assert received[3]["body"] == DEFAULT_REPLIES["en"][KeywordKind.OPT_IN]
    body = await wait_events(platform, http, auth, handset, 2)
    assert [e["action"] for e in body["history"]] == ["opt_out", "opt_in"]
    assert body["all_channels"]["engagement"] == "unknown"  # START re-subscribed SMS only
    check = await http.get(api(platform, f"/consents/{handset}/check"),
                           params={"channel": "SMS", "purpose": "engagement"}, headers=auth)
    assert check.json()["allowed"] is True


async def test_double_opt_in_by_reply_and_by_link(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    handset = "+46701330001"
    r = await http.post(api(platform, "/consents/double_opt_in"), headers=auth, json={
        "identity": handset, "channel": "SMS", "purposes": ["engagement"], "method": "reply", "from": OURS})
    assert r.status_code == 201, r.text
    started = r.json()
    [request] = await wait_handset(platform, http, handset, 1)
    assert "Reply YES" in request["body"]
    check = await http.get(api(platform, f"/consents/{handset}/check"), params={"purpose": "engagement"}, headers=auth)
    assert check.json()["reason_code"] == "consent_missing"
    await texts(platform, http, handset, "YES")
    received = await wait_handset(platform, http, handset, 2)
    assert "confirmed" in received[1]["body"]
    [event] = (await wait_events(platform, http, auth, handset, 1))["history"]
    assert event["source"] == "double_opt_in" and event["proof"]["confirmation_id"] == started["id"]
    assert event["proof"]["by"] == "reply" and event["proof"]["text"] == "YES"
    check = await http.get(api(platform, f"/consents/{handset}/check"), params={"purpose": "engagement"}, headers=auth)
    assert check.json()["allowed"] is True

    other = "+46701330002"
    r = await http.post(api(platform, "/consents/double_opt_in"), headers=auth, json={
        "identity": other, "channel": "SMS", "purposes": ["engagement"], "method": "link", "from": OURS})
    assert r.status_code == 201, r.text
    url = r.json()["confirmation_url"]
    [request] = await wait_handset(platform, http, other, 1)
    assert url in request["body"]
    forged = await http.get(url[:-3] + "abc")
    assert forged.status_code == 404
    opened = await http.get(url, headers={"user-agent": "handset-browser"})
    assert opened.status_code == 200 and "confirmed" in opened.text
    [event] = (await consent(platform, http, auth, other))["history"]
    assert event["proof"]["by"] == "link" and event["proof"]["user_agent"] == "handset-browser"
    assert (await http.get(url)).status_code == 200  # opening it again records nothing more
    assert len((await consent(platform, http, auth, other))["history"]) == 1


async def test_api_events_exports_and_sinch_lists(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    a, b = "+46701340001", "+46701340002"
    r = await http.post(api(platform, "/consents"), headers={**auth, "x-request-id": "req-7"}, json={"events": [
        {"identity": a, "channel": "SMS", "purpose": "engagement", "action": "opt_in"},
        {"identity": b, "purpose": "engagement", "action": "opt_out", "source": "import",
         "proof": {"file_sha256": "ab" * 32, "evidence": "paper form 2024-03"}},
    ]})
    assert r.status_code == 201, r.text
    bad = await http.post(api(platform, "/consents"), headers=auth, json={
        "identity": a, "purpose": "engagement", "action": "opt_out", "source": "import", "proof": {}})
    assert bad.status_code == 400 and bad.json()["code"] == "syntax_constraint_violation"
    unauthorised = await http.get(api(platform, f"/consents/{a}"))
    assert unauthorised.status_code == 401

    as_json = await http.get(api(platform, "/consents:export"), params={"format": "json"}, headers=auth)
    assert as_json.status_code == 200
    rows = as_json.json()
    assert [(x["identity"], x["action"], x["source"]) for x in rows] == [(a, "opt_in", "api"), (b, "opt_out", "import")]
    assert rows[0]["proof"]["request_id"] == "req-7" and rows[1]["proof"]["evidence"] == "paper form 2024-03"
    as_csv = await http.get(api(platform, f"/consents/{b}/export"), params={"format": "csv"}, headers=auth)
    assert as_csv.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (row["identity"], row["purpose"], row["action"]) == (b, "engagement", "opt_out")

    sinch = f"{platform.base_url}/v1/projects/{platform.creds.project_id}"
    r = await http.post(f"{sinch}/consents", headers=auth, json={"app_id": "APP", "consent_records": [
        {"identification": a, "consent_type": "OPT_OUT_ALL"}]})
    assert r.status_code == 200 and r.json()["batch_id"]
    marketing = await http.get(f"{sinch}/apps/APP/consents/OPT_OUT_MARKETING", headers=auth)
    assert marketing.json()["identities"] == [{"identity": b}]
    everything = await http.get(f"{sinch}/apps/APP/consents/OPT_OUT_ALL", headers=auth)
    assert everything.json()["identities"] == [{"identity": a}]
    audit = await http.get(f"{sinch}/apps/APP/consents/identities/{a}", headers=auth)
    assert [(x["list_type"], x["operation"], x["origin"]) for x in audit.json()["audit_records"]] == [
        ("OPT_OUT_MARKETING", "DELETE", "API"), ("OPT_OUT_ALL", "INSERT", "API")]
    wrong = await http.get(f"{sinch}/apps/APP/consents/OPT_OUT_SOMETIMES", headers=auth)
    assert wrong.status_code == 400 and wrong.json()["error"]["status"] == "INVALID_ARGUMENT"
