"""The official `sinch` SDK's conversation client, unmodified, against our Conversation API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings.actions.projects import ProjectCredentials
from tidings.api.testing import ApiServer, oauth_client


def conversation_client(api: ApiServer, creds: ProjectCredentials) -> Any:
    client = oauth_client(api.base_url, creds)
    client.configuration.conversation_origin = api.base_url
    return client


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def every(paginator: Any) -> list[Any]:
    """All items of an SDK paginator (it fetches further pages as it goes: off the loop)."""
    return await asyncio.to_thread(lambda: list(paginator.iterator()))


# The SDK takes credentials keyed by channel and sends Sinch's array form.
SMS_CREDS = {"SMS": {"claimed_identity": "plan1", "token": "t"}}
WA_CREDS = {"WHATSAPP": {"claimed_identity": "12345", "token": "wa", "callback_secret": "s"}}


async def test_apps_crud(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="Shop", channel_credentials=SMS_CREDS,
                     conversation_metadata_report_view="FULL")
    assert app.id and app.display_name == "Shop"
    assert app.conversation_metadata_report_view == "FULL"
    assert app.channel_credentials.sms.claimed_identity == "plan1"
    assert app.channel_credentials.whatsapp is None
    got = await call(c.apps.get, app_id=app.id)
    assert got.id == app.id and got.display_name == "Shop"
    updated = await call(c.apps.update, app_id=app.id, display_name="Shop 2",
                         channel_credentials={**SMS_CREDS, **WA_CREDS})
    assert updated.display_name == "Shop 2"
    assert updated.channel_credentials.whatsapp.claimed_identity == "12345"
    assert updated.channel_credentials.whatsapp.callback_secret == "s"
    assert updated.channel_credentials.sms.token == "t"
    assert [a.id for a in await every(await call(c.apps.list))] == [app.id]
    await call(c.apps.delete, app_id=app.id)
    assert await every(await call(c.apps.list)) == []
    # Another project sees nothing of it.
    other = conversation_client(api, await api.project("other")).conversation
    with pytest.raises(Exception) as err:
        await call(other.apps.get, app_id=app.id)
    assert "404" in str(err.value) or "NOT_FOUND" in str(err.value)


async def test_contacts_crud_list_and_merge(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    alice = await call(c.contacts.create, channel_identities=[{"channel": "SMS", "identity": "+46701111111"}],
                       language="EN_US", display_name="Alice", email="a@example.com", metadata="m1")
    assert alice.id and alice.display_name == "Alice" and alice.language == "EN_US"
    assert alice.channel_identities[0].identity == "+46701111111"
    bob = await call(c.contacts.create, channel_identities=[{"channel": "TELEGRAM", "identity": "42"}],
                     language="SV", display_name="Bob")
    got = await call(c.contacts.get, contact_id=alice.id)
    assert got.email == "a@example.com"
    upd = await call(c.contacts.update, contact_id=alice.id, display_name="Alice B",
                     channel_priority=["WHATSAPP", "SMS"])
    assert upd.display_name == "Alice B" and upd.channel_priority == ["WHATSAPP", "SMS"]
    assert upd.email == "a@example.com"  # untouched fields kept
    page = await call(c.contacts.list, page_size=1)
    assert len(page.content()) == 1 and page.has_next_page
    everyone = [x.id for x in await every(page)]
    assert sorted(everyone) == sorted([alice.id, bob.id])
    merged = await call(c.contacts.merge_contact, destination_id=alice.id, source_id=bob.id)
    assert {(i.channel, i.identity) for i in merged.channel_identities} == {
        ("SMS", "+46701111111"), ("TELEGRAM", "42")}
    with pytest.raises(Exception):
        await call(c.contacts.get, contact_id=bob.id)
    await call(c.contacts.delete, contact_id=alice.id)
    assert await every(await call(c.contacts.list)) == []


async def test_messages_send_get_list_delete(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="A", channel_credentials=SMS_CREDS)
    sent = await call(c.messages.send_text_message, app_id=app.id, text="hello",
                      recipient_identities=[{"channel": "SMS", "identity": "+46702222222"}],
                      ttl="30s", correlation_id="corr-1", message_metadata="meta")
    assert sent.message_id
    card = await call(c.messages.send_card_message, app_id=app.id,
                      card_message={"title": "T", "description": "D",
                                    "media_message": {"url": "https://ex.com/a.png"},
                                    "choices": [{"text_message": {"text": "Yes"}, "postback_data": "y"}]},
                      recipient_identities=[{"channel": "SMS", "identity": "+46702222222"}])
    generic = await call(c.messages.send, app_id=app.id,
                         message={"location_message": {"title": "HQ", "coordinates": {"latitude": 1, "longitude": 2}}},
                         recipient_identities=[{"channel": "SMS", "identity": "+46702222222"}],
                         channel_priority_order=["SMS"])
    msg = await call(c.messages.get, message_id=sent.message_id)
    assert msg.id == sent.message_id and msg.direction == "TO_CONTACT"
    assert msg.app_message.text_message.text == "hello"
    assert msg.metadata == "meta" and msg.contact_id and msg.conversation_id
    # The same identity maps to the same contact and conversation.
    msg2 = await call(c.messages.get, message_id=card.message_id)
    assert msg2.contact_id == msg.contact_id and msg2.conversation_id == msg.conversation_id
    listed = await call(c.messages.list, page_size=2, contact_id=msg.contact_id)
    ids = [m.id for m in await every(listed)]
    assert sorted(ids) == sorted([sent.message_id, card.message_id, generic.message_id])
    await call(c.messages.delete, message_id=card.message_id)
    with pytest.raises(Exception):
        await call(c.messages.get, message_id=card.message_id)
    contacts = await every(await call(c.contacts.list))
    assert [x.id for x in contacts] == [msg.contact_id]


async def test_every_send_variant_and_message_metadata_update(api: ApiServer) -> None:
    creds = await api.project()
    c = conversation_client(api, creds).conversation
    app = await call(c.apps.create, display_name="A", channel_credentials=SMS_CREDS)
    to = {"recipient_identities": [{"channel": "SMS", "identity": "+46703333333"}], "app_id": app.id}
    choice = {"text_message": {"text": "Yes"}, "postback_data": "y"}
    sent = [
        await call(c.messages.send_choice_message, choice_message={
            "text_message": {"text": "Pick"}, "choices": [choice]}, **to),
        await call(c.messages.send_carousel_message, carousel_message={"cards": [
            {"title": "A", "choices": [choice]}, {"title": "B"}]}, **to),
        await call(c.messages.send_list_message, list_message={"title": "Menu", "sections": [
            {"title": "S", "items": [{"choice": {"title": "Tea", "postback_data": "t"}}]}]}, **to),
        await call(c.messages.send_location_message, location_message={
            "title": "HQ", "coordinates": {"latitude": 59.3, "longitude": 18.0}}, **to),
        await call(c.messages.send_media_message, media_message={"url": "https://ex.com/a.png"}, **to),
        await call(c.messages.send_template_message, template_message={
            "omni_template": {"template_id": "t1", "version": "1", "language_code": "en",
                              "parameters": {"text": "code 1"}}}, **to),
        await call(c.messages.send_contact_info_message, contact_info_message={
            "name": {"full_name": "Ann"}, "phone_numbers": [{"phone_number": "+46704444444"}]}, **to),
    ]
    assert len({s.message_id for s in sent}) == len(sent)
    kinds = []
    for s in sent:
        msg = await call(c.messages.get, message_id=s.message_id)
        kinds.append(next(k for k in msg.app_message.model_dump(exclude_none=True) if k.endswith("_message")))
    assert kinds == ["choice_message", "carousel_message", "list_message", "location_message",
                     "media_message", "template_message", "contact_info_message"]
    updated = await call(c.messages.update, message_id=sent[0].message_id, metadata="new-meta")
    assert updated.metadata == "new-meta"
    conflicts = await call(c.contacts.list_identity_conflicts)
    assert await every(conflicts) == []
