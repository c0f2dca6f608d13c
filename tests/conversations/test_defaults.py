from tidings.conversations.defaults import country_of, plan, top_app_channel


def test_country_table_is_shipped_and_mapped():
    assert top_app_channel("DE") == "WHATSAPP"
    assert top_app_channel("SE") == "MESSENGER"
    assert top_app_channel("us") == "MESSENGER"
    assert top_app_channel("CN") == "WECHAT"
    assert country_of("+46701234567") == "SE"


def test_explicit_order_wins_and_keeps_only_reachable_channels():
    ids = [("SMS", "+46701234567"), ("TELEGRAM", "12345")]
    got = plan(ids, priority_order=["RCS", "MESSENGER", "TELEGRAM", "SMS"])
    assert got == [
        {"channel": "RCS", "identity": "+46701234567"},
        {"channel": "TELEGRAM", "identity": "12345"},
        {"channel": "SMS", "identity": "+46701234567"},
    ]


def test_default_preferred_then_country_app_then_sms():
    ids = [("SMS", "+4915123456789"), ("TELEGRAM", "999")]  # Germany: WhatsApp
    assert [p["channel"] for p in plan(ids, preferred=["TELEGRAM"])] == ["TELEGRAM", "WHATSAPP", "SMS"]
    # Sweden: Messenger is the top app but the contact has no Messenger id: straight to SMS.
    assert [p["channel"] for p in plan([("SMS", "+46701234567")])] == ["SMS"]
