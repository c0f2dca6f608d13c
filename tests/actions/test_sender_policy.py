"""The sender policy's default senders are checked as a batch's `from` is, when they are set:
one that no SMSC could take (longer than SMPP's source_addr) is refused then, not at send time."""

from __future__ import annotations

import pytest

from tidings.actions.senders import check_policy
from tidings.core.errors import RequestError


def test_default_senders_are_held_to_the_rules_of_a_batchs_from() -> None:
    mode, defaults = check_policy({"mode": "off", "defaults": {"se": "+46700000099", "US": "12345", "GB": "Shop"}})
    assert (mode, defaults) == ("off", {"SE": "+46700000099", "US": "12345", "GB": "Shop"})


@pytest.mark.parametrize("sender", ["X" * 24, "Shop & Co Ltd", "1234567890123456", "", 7])
def test_a_default_sender_no_smsc_could_take_is_refused(sender: object) -> None:
    with pytest.raises(RequestError) as refused:
        check_policy({"mode": "off", "defaults": {"SE": sender}})
    assert refused.value.http_status == 400 and set(refused.value.fields) == {"defaults.SE"}
