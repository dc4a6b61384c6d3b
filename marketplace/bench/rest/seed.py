"""What `bench_api` loads: couriers with a delivery in transit (their batch pings are the write
endpoint) and one shipper with a realistic list of parcels (the read endpoint).

The couriers come from the live benchmark's seed (bench/live/seed.py: through the services, one
delivery in transit each). The first delivery's shipper also gets `parcels - 1` more parcels
through the services, in the states a shipper's list holds: open, draft, cancelled and expired
(plus the one in transit). They lie off the couriers' routes and point the other way, so no
courier is offered them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.gis.geos import Point
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.bench.live.seed import LiveDelivery, deliveries_in_transit, offset
from marketplace.bench.quiet import loggers_quiet
from marketplace.lifecycle import cancelling, posting, steps
from marketplace.matching import services as matching
from marketplace.parcels.models import Parcel, ParcelStatus

# The share of each state among the added parcels (in this order; open takes the rest).
MIX = (("draft", 0.2), ("cancelled", 0.2), ("expired", 0.2))


@dataclass(frozen=True)
class Seeded:
    shipper: User
    deliveries: list[LiveDelivery]
    parcels: dict[str, int]  # status -> how many the shipper has


def _parcel(shipper: User, start: tuple[float, float], index: int, *, publish: bool) -> Parcel:
    t0 = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    # 1.5 km north of the route (half way to the next row of the grid), going west.
    pickup = offset(start, north_m=1_500, east_m=6_000 + 20 * index)
    dropoff = offset(start, north_m=1_500, east_m=1_000 + 20 * index)
    return posting.parcel_create(
        shipper=shipper,
        publish=publish,
        description=f"Bench list parcel {index}: a box of books",
        size_class=("S", "M", "L", "XL")[index % 4],
        weight_grams=500 + 100 * index,
        declared_value=2_000 + index,
        prohibited_items_declared=True,
        pickup_point=Point(*pickup, srid=4326),
        pickup_address=f"Pickup street {index}",
        pickup_contact_name="Pia Pickup",
        pickup_contact_phone="+49 30 1",
        pickup_window_start=t0 + timedelta(minutes=index),
        pickup_window_end=t0 + timedelta(hours=2, minutes=index),
        dropoff_point=Point(*dropoff, srid=4326),
        dropoff_address=f"Dropoff street {index}",
        dropoff_contact_name="Dora Dropoff",
        dropoff_contact_phone="+49 30 2",
        delivery_window_start=t0 + timedelta(hours=1, minutes=index),
        delivery_window_end=t0 + timedelta(hours=6, minutes=index),
    )


def _expire(parcel: Parcel) -> None:
    """As lifecycle.matching.parcels_expire does once the pickup window has closed."""
    with transaction.atomic():
        parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
        steps.parcel_move(
            parcel=parcel, to_status=ParcelStatus.EXPIRED, actor=None, note="No courier (bench)"
        )
        matching.offers_withdraw(parcel=parcel)


def seed(*, couriers: int, parcels: int) -> Seeded:
    """`couriers` deliveries in transit; the first one's shipper holds `parcels` parcels."""
    deliveries = deliveries_in_transit(couriers)
    shipper, start = deliveries[0].shipper, deliveries[0].start
    added = parcels - 1
    plan: list[str] = []
    for status, share in MIX:
        plan += [status] * round(added * share)
    plan += ["open"] * (added - len(plan))
    with (
        loggers_quiet("celery", "marketplace"),
        override_settings(
            PAYMENTS_REQUIRED=False,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ),
    ):
        for index, status in enumerate(plan):
            parcel = _parcel(shipper, start, index, publish=status != "draft")
            if status == "cancelled":
                cancelling.parcel_cancel(parcel=parcel, actor=shipper, reason="Plans changed")
            elif status == "expired":
                _expire(parcel)
    counts: dict[str, int] = {}
    for status in Parcel.objects.filter(shipper=shipper).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return Seeded(shipper=shipper, deliveries=deliveries, parcels=counts)
