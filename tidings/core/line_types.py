"""The one vocabulary of line types across Tidings, read off the numbering plan.

mobile, landline, voip, toll_free, premium_rate, shared_cost, personal, pager, uan, voicemail,
unknown: what Number Lookup answers, what the fraud guard refuses and what a sandbox handset is.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["LINE_TYPES", "line_type_of"]

_LINE_TYPE = {
    PhoneNumberType.MOBILE: "mobile",
    # North American numbers do not tell the two apart; they are overwhelmingly mobile today.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
LINE_TYPES = frozenset({*_LINE_TYPE.values(), "unknown"})


def line_type_of(parsed: phonenumbers.PhoneNumber) -> str:
    """The line type of a parsed, valid number; "unknown" when the plan does not say."""
    return _LINE_TYPE.get(phonenumbers.number_type(parsed), "unknown")
