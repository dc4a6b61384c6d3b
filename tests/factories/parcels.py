"""Parcels are built through the service, so they carry a real quote and audit events."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from marketplace.lifecycle.posting import parcel_create
from marketplace.parcels.models import Parcel
from tests.factories.accounts import ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG, pt


def parcel_fields(**overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    fields: dict[str, Any] = {
        "description": "Box of books",
        "size_class": "M",
        "weight_grams": 2_500,
        "declared_value": 4_000,
        "pickup_point": pt(ALEXANDERPLATZ),
        "pickup_address": "Alexanderplatz 1, 10178 Berlin",
        "pickup_contact_name": "Anna Sender",
        "pickup_contact_phone": "+49 30 1111111",
        "pickup_window_start": now + timedelta(hours=1),
        "pickup_window_end": now + timedelta(hours=3),
        "dropoff_point": pt(CHARLOTTENBURG),
        "dropoff_address": "Kaiserdamm 2, 14057 Berlin",
        "dropoff_contact_name": "Ben Receiver",
        "dropoff_contact_phone": "+49 30 2222222",
        "delivery_window_start": now + timedelta(hours=2),
        "delivery_window_end": now + timedelta(hours=6),
        "prohibited_items_declared": True,
    }
    fields.update(overrides)
    return fields


def make_parcel(*, shipper: Any = None, publish: bool = True, **overrides: Any) -> Parcel:
    return parcel_create(
        shipper=shipper or ShipperFactory(), publish=publish, **parcel_fields(**overrides)
    )
