"""Reports of batches sent through the API itself (no pipeline running): every recipient is
Queued with the send's encoding and parts, and a cancel shows as Cancelled (407)."""

from __future__ import annotations

import asyncio

from tidings.api.testing import ApiServer, sdk_client


async def test_sent_batch_reports_queued_then_cancelled(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    sms = sdk_client(auth_mode, api.base_url, creds).sms
    batch = await asyncio.to_thread(
        sms.batches.send_sms, to=["+46701000001", "+46701000002"], from_="+46700000001",
        body="Grüße 👋 " + "x" * 80, client_reference="after-send",
    )

    full = await asyncio.to_thread(sms.delivery_reports.get, batch.id, report_type="full")
    assert full.total_message_count == 2
    assert full.client_reference == "after-send"
    assert [(s.status, s.code, sorted(s.recipients or [])) for s in full.statuses] == [
        ("Queued", 400, ["+46701000001", "+46701000002"])]

    one = await asyncio.to_thread(sms.delivery_reports.get_for_number, batch.id, "46701000002")
    assert (one.recipient, one.status, one.code) == ("+46701000002", "Queued", 400)
    assert (one.encoding, one.number_of_message_parts) == ("UNICODE", 2)

    await asyncio.to_thread(sms.batches.cancel, batch.id)
    after = await asyncio.to_thread(sms.delivery_reports.get, batch.id)
    assert [(s.status, s.code, s.count) for s in after.statuses] == [("Cancelled", 407, 2)]
    listed = await asyncio.to_thread(sms.delivery_reports.list, status=["CANCELLED"])
    assert sorted(r.recipient for r in listed.content()) == ["+46701000001", "+46701000002"]
