"""Refuse to start with a returns policy we do not know (a typo would otherwise surface only
when the first parcel comes back)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

FEE_PAYERS = ("shipper", "platform")
REFUND_POLICIES = ("none", "platform_fee")


@register()
def returns_policy_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.RETURN_FEE_PAYER not in FEE_PAYERS:
        errors.append(Error(f"RETURN_FEE_PAYER must be one of {FEE_PAYERS}.", id="returns.E001"))
    if settings.RETURN_REFUND_ORIGINAL not in REFUND_POLICIES:
        errors.append(
            Error(f"RETURN_REFUND_ORIGINAL must be one of {REFUND_POLICIES}.", id="returns.E002")
        )
    if settings.RETURN_WINDOW_DAYS < 0:
        errors.append(Error("RETURN_WINDOW_DAYS must not be negative.", id="returns.E003"))
    return errors
