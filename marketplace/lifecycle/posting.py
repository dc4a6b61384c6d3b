"""Posting: a shipper posts, edits and publishes a parcel; a courier posts a trip. What follows
is matching, after commit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_noop

from marketplace.accounts.models import User
from marketplace.lifecycle import steps
from marketplace.matching import services as matching
from marketplace.matching.segments import trip_segments_rebuild
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips import services as trips
from marketplace.trips.models import Trip


@transaction.atomic
def parcel_create(
    *, shipper: User, publish: bool = True, paid_first: bool | None = None, **fields: Any
) -> Parcel:
    """Create a parcel with its quote; published (open to couriers, matched after commit)
    unless `publish` is False or it must be paid first (`paid_first`, by default
    PAYMENTS_REQUIRED: paying opens it; a merchant's billing decides for its deliveries)."""
    parcel = parcels.parcel_create(shipper=shipper, **fields)
    if paid_first is None:
        paid_first = settings.PAYMENTS_REQUIRED
    if publish and not paid_first:
        parcel = steps.parcel_move(
            parcel=parcel,
            to_status=ParcelStatus.OPEN,
            actor=shipper,
            note=gettext_noop("Published"),
        )
        steps.match_parcel_on_commit(parcel)
    return parcel


@transaction.atomic
def parcel_update(*, parcel: Parcel, actor: User, **changes: Any) -> Parcel:
    """Edit a draft or open parcel (re-quoted when the price changes). An open parcel whose
    place, size or windows changed loses its offers, made for the old parcel, and is matched
    again."""
    parcel = parcels.parcel_update(parcel=parcel, actor=actor, **changes)
    if parcel.status == ParcelStatus.OPEN and parcels.parcel_changes_matching(changes):
        matching.offers_withdraw(parcel=parcel)
        steps.match_parcel_on_commit(parcel)
    return parcel


@transaction.atomic
def parcel_publish(*, parcel: Parcel, actor: User) -> Parcel:
    """Publish a draft (when payments are off; otherwise paying publishes it)."""
    parcel = parcels.parcel_lock(parcel.pk)
    parcels.parcel_check_publishable(parcel=parcel, actor=actor)
    parcel = steps.parcel_move(
        parcel=parcel, to_status=ParcelStatus.OPEN, actor=actor, note=gettext_noop("Published")
    )
    steps.match_parcel_on_commit(parcel)
    return parcel


@transaction.atomic
def trip_create(*, courier: User, **fields: Any) -> Trip:
    """Post a planned trip (see trips.services.trip_create for the fields): its pieces join the
    matching index, and the open parcels that fit it are offered to the courier after commit."""
    trip = trips.trip_create(courier=courier, **fields)
    trip_segments_rebuild([trip.pk])
    steps.match_trip_on_commit(trip)
    return trip
