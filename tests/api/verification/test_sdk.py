"""The official `sinch` SDK 1.1.4 starts, reports and reads verifications, unmodified: SMS (the
code arrives on the sandbox handset through the SMS pipeline), flash call (the caller id on the
handset's call log carries the code) and callout (the code is spoken)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tidings.testing.platform import Platform

from .conftest import Sdk

NUMBER = "+46701234567"


async def _wait_for(fetch: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await fetch()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _sms_code(platform: Platform, number: str) -> str:
    async with httpx.AsyncClient() as http:
        async def fetch() -> str | None:
            r = await http.get(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages")
            bodies = [m["body"] for m in r.json()["messages"]] if r.status_code == 200 else []
            codes = [m.group(1) for b in bodies if (m := re.fullmatch(r"Your code is (\w+)", b))]
            return codes[-1] if codes else None

        return str(await _wait_for(fetch))


async def _calls(platform: Platform, number: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/calls")
    assert r.status_code == 200, r.text
    calls: list[dict[str, Any]] = r.json()["calls"]
    return calls


async def test_sms_start_report_status(sdk: Sdk, vplatform: Platform) -> None:
    started = await sdk.one("start_sms", identity={"type": "number", "endpoint": NUMBER}, reference="order-1")
    assert started["ok"], started
    assert started["type"] == "StartSMSVerificationResponse"
    result = started["result"]
    vid = result["id"]
    assert result["method"] == "sms"
    assert result["sms"]["template"] == "Your code is {{CODE}}"
    assert result["sms"]["interception_timeout"] == 600
    assert [link["rel"] for link in result["_links"]] == ["status", "report"]
    assert result["_links"][0]["href"].endswith(f"/verification/v1/verifications/id/{vid}")

    pending = await sdk.one("status.get_by_id", id=vid)
    assert pending["result"]["status"] == "PENDING"
    assert pending["result"]["identity"] == {"type": "number", "endpoint": NUMBER}

    code = await _sms_code(vplatform, NUMBER)
    wrong = "0000" if code != "0000" else "1111"
    bad, good, again = await sdk.run(("report_sms_by_id", {"id": vid, "code": wrong}),
                                     ("report_sms_by_id", {"id": vid, "code": code}),
                                     ("report_sms_by_id", {"id": vid, "code": code}))
    assert bad["result"]["status"] == "FAIL" and bad["result"]["reason"] == "Invalid code"
    assert good["result"]["status"] == "SUCCESSFUL"
    assert not again["ok"] and again["status"] == 409 and again["body"]["errorCode"] == 40900

    by_ref, by_number = await sdk.run(("status.get_by_reference", {"reference": "order-1"}),
                                      ("status.get_by_identity", {"endpoint": NUMBER, "method": "sms"}))
    assert by_ref["result"]["id"] == vid and by_ref["result"]["status"] == "SUCCESSFUL"
    assert by_ref["result"]["reference"] == "order-1"
    assert by_number["result"]["id"] == vid


async def test_sms_report_by_number(sdk: Sdk, vplatform: Platform) -> None:
    number = "+46701234568"
    started = await sdk.one("start_sms", identity={"type": "number", "endpoint": number})
    code = await _sms_code(vplatform, number)
    reported = await sdk.one("report_sms_by_identity", endpoint=number, code=code)
    assert reported["result"]["status"] == "SUCCESSFUL"
    assert reported["result"]["id"] == started["result"]["id"]


async def test_flash_call(sdk: Sdk, vplatform: Platform) -> None:
    number = "+46701234569"
    started = await sdk.one("start_flash_call", identity={"type": "number", "endpoint": number}, dial_timeout=10)
    assert started["ok"], started
    flash = started["result"]["flash_call"]
    assert flash["interception_timeout"] > 0 and flash["report_timeout"] > flash["interception_timeout"]
    assert flash["deny_call_after"] == 0
    calls = await _calls(vplatform, number)
    assert len(calls) == 1 and calls[0]["kind"] == "flash"
    assert calls[0]["duration_ms"] == 10_000  # flashCallOptions.dialTimeout: it rang that long
    cli = calls[0]["from"]
    assert re.fullmatch(flash["cli_filter"], cli), (flash["cli_filter"], cli)

    wrong_cli = cli[:-1] + ("0" if cli[-1] != "0" else "1")
    bad = await sdk.one("report_flash_call_by_id", id=started["result"]["id"], cli=wrong_cli)
    assert bad["result"]["status"] == "FAIL" and bad["result"]["reason"] == "Invalid CLI"
    good = await sdk.one("report_flash_call_by_id", id=started["result"]["id"], cli=cli)
    assert good["result"]["status"] == "SUCCESSFUL"
    status = await sdk.one("status.get_by_id", id=started["result"]["id"])
    assert status["result"]["method"] == "flashCall" and status["result"]["status"] == "SUCCESSFUL"


async def test_callout(sdk: Sdk, vplatform: Platform) -> None:
    number = "+46701234570"
    async with httpx.AsyncClient() as http:
        r = await http.put(f"{vplatform.base_url}/sandbox/v1/voice/rules/4670", json={"answer_rate": 1.0})
        assert r.status_code in (200, 201, 204), r.text
    started = await sdk.one("start_callout", identity={"type": "number", "endpoint": number},
                            speech_locale="en-US")
    assert started["ok"], started
    assert started["type"] == "StartPhoneCallVerificationResponse"
    calls = await _calls(vplatform, number)
    assert len(calls) == 1 and calls[0]["kind"] == "callout"
    spoken = calls[0]["spoken_text"]
    digits = re.search(r"code is ([\d ]+)\.", spoken)
    assert digits, spoken
    code = digits.group(1).replace(" ", "")
    done = await sdk.one("report_phone_call_by_id", id=started["result"]["id"], code=code)
    assert done["result"]["status"] == "SUCCESSFUL"
