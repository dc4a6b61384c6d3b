"""Delivery options: what the shipper asks of the drop-off (leave at the door with a photo, a
signature, the recipient's code, an ID check for a minimum age, fragile), the prohibited-items
declaration and the cover limit on the declared value. Checked at posting here; the proof they
call for is checked at delivery (`proof_problems`, used by lifecycle.delivering)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from marketplace.parcels.models import Parcel

# The fields a shipper sets once, at posting (with the recipient's contact for notifications).
OPTION_FIELDS = (
    "leave_at_door",
    "signature_required",
    "pin_required",
    "minimum_age",
    "fragile",
    "prohibited_items_declared",
    "recipient_email",
    "recipient_language",
)


def prohibited_items() -> list[str]:
    """What may not be sent (PARCEL_PROHIBITED_ITEMS); shown at posting."""
    return list(settings.PARCEL_PROHIBITED_ITEMS)


def declaration_required() -> bool:
    return bool(settings.PARCEL_PROHIBITED_ITEMS)


def cover_limit() -> int:
    """The most a parcel's declared value may be, in minor units (PARCEL_COVER_LIMIT)."""
    return int(settings.PARCEL_COVER_LIMIT)


def option_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors in a new parcel's options and declaration (the cover limit is checked with
    the other fields, on edits too)."""
    errors: dict[str, list[str]] = {}
    if declaration_required() and not values.get("prohibited_items_declared"):
        errors["prohibited_items_declared"] = [
            "Confirm that the parcel holds none of: " + ", ".join(prohibited_items()) + "."
        ]
    if values.get("leave_at_door"):
        if values.get("signature_required"):
            errors["leave_at_door"] = [
                gettext("A parcel left at the door cannot also need a signature.")
            ]
        elif values.get("minimum_age"):
            errors["leave_at_door"] = [
                gettext("A parcel left at the door cannot need an ID check.")
            ]
    return errors


def option_labels(parcel: Parcel) -> list[str]:
    """The options in words, for couriers' offers and the shipper's pages."""
    labels = []
    if parcel.leave_at_door:
        labels.append("Leave at the door (photo)")
    if parcel.signature_required:
        labels.append("Signature required")
    if parcel.pin_required:
        labels.append("Recipient's code")
    if parcel.minimum_age:
        labels.append(f"ID check: {parcel.minimum_age}+")
    if parcel.fragile:
        labels.append("Fragile")
    return labels


def proof_problems(
    *, parcel: Parcel, code: str, photo: Any, signature: Any, id_checked: bool
) -> dict[str, list[str]]:
    """What the drop-off still lacks for this parcel's options. The recipient's code is
    required when the parcel asks for it, unless it is left at the door, which needs a photo."""
    errors: dict[str, list[str]] = {}
    left_at_door = parcel.leave_at_door and not code
    if parcel.pin_required and not code and not parcel.leave_at_door:
        errors["code"] = [gettext("The recipient's delivery code is required.")]
    if left_at_door and photo is None:
        errors["photo"] = [gettext("A photo of the parcel at the door is required.")]
    if parcel.signature_required and signature is None:
        errors["signature"] = [gettext("The recipient's signature is required.")]
    if parcel.minimum_age and not id_checked:
        errors["id_checked"] = [
            gettext("Check the recipient's ID: they must be at least %(minimum_age)s.")
            % {"minimum_age": parcel.minimum_age}
        ]
    return errors
