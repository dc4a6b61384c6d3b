from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, F, Max, OuterRef, QuerySet
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.matching.models import MatchAttempt, Offer, OfferStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip


def offers_of_courier(*, courier: User, status: str | None = None) -> QuerySet[Offer]:
    """A courier's offers. By default the ones they can still act on."""
    qs = Offer.objects.filter(courier=courier).select_related("parcel", "trip")
    if status:
        return qs.filter(status=status).order_by("-created_at")
    return qs.filter(status=OfferStatus.PENDING, expires_at__gt=timezone.now()).order_by(
        "expires_at", "rank"
    )


def parcels_awaiting_batch(*, now: datetime, limit: int) -> list[Parcel]:
    """Open parcels a batch assignment should place: live (not test), pickup window still open,
    no pending offer; those whose pickup window closes first, first."""
    pending = Offer.objects.filter(
        parcel=OuterRef("pk"), status=OfferStatus.PENDING, expires_at__gt=now
    )
    return list(
        Parcel.objects.filter(status=ParcelStatus.OPEN, is_test=False, pickup_window_end__gt=now)
        .exclude(Exists(pending))
        .order_by("pickup_window_end", "pk")[:limit]
    )


def couriers_asked(*, parcel_ids: list[int]) -> set[tuple[int, int]]:
    """(parcel, courier) pairs never to offer again (asked and not withdrawn)."""
    return set(
        Offer.objects.filter(parcel_id__in=parcel_ids)
        .exclude(status=OfferStatus.WITHDRAWN)
        .values_list("parcel_id", "courier_id")
    )


def pending_loads(*, trip_ids: list[int], now: datetime) -> list[tuple[int, int, int, int]]:
    """(trip, pickup position, drop-off position, weight) of the pending offers on these trips:
    room a batch must leave for them."""
    return list(
        Offer.objects.filter(trip_id__in=trip_ids, status=OfferStatus.PENDING, expires_at__gt=now)
        .order_by("pk")
        .values_list("trip_id", "pickup_position_m", "dropoff_position_m", "parcel__weight_grams")
    )


def parcels_resting(*, parcel_ids: list[int], since: datetime) -> set[int]:
    """Of these parcels, those a batch found no trip for after `since` and that did not change
    after that batch: the next batches leave them out (see lifecycle.assigning)."""
    return set(
        MatchAttempt.objects.filter(
            parcel_id__in=parcel_ids,
            batch_fitless_at__gt=since,
            batch_fitless_at__gte=F("parcel__updated_at"),
        ).values_list("parcel_id", flat=True)
    )


def trips_last_posted_at() -> datetime | None:
    return Trip.objects.aggregate(latest=Max("created_at"))["latest"]
