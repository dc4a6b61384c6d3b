"""Cancelling: the shipper (or an admin) cancels a parcel no courier has picked up (with its
delivery, and a fee if the courier set off); the courier gives up an accepted parcel (back to
matching, reliability down); the courier cancels a trip (its accepted parcels go back to
matching). Money goes back after commit.

Lock order: parcels (in id order), then the trip, then the delivery.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.accounts.services import courier_reliability_penalise
from marketplace.core.exceptions import ConflictError, NotAllowedError
from marketplace.core.languages import in_language_of
from marketplace.core.money import format_money
from marketplace.deliveries import selectors as delivery_selectors
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import CancelledBy, Delivery, DeliveryStatus
from marketplace.lifecycle import steps
from marketplace.matching import services as matching
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips import services as trips
from marketplace.trips.models import Trip, TripStatus

D = DeliveryStatus


@transaction.atomic
def parcel_cancel(*, parcel: Parcel, actor: User, reason: str = "") -> Parcel:
    """The shipper cancels a parcel that no courier has picked up yet. With a courier assigned,
    the delivery is cancelled too (and a fee applies if the courier is on the way). The money
    goes back after commit (payments decides how much)."""
    parcel = parcels.parcel_lock(parcel.pk)
    parcels.parcel_require_owner(parcel=parcel, actor=actor)
    if parcel.status in parcels.WITH_COURIER:
        # Refused once the courier has picked the parcel up.
        _delivery_cancel_by_shipper(parcel=parcel, actor=actor, reason=reason)
        parcel.refresh_from_db()
    else:
        matching.offers_withdraw(parcel=parcel)
        note = f"Cancelled by {'admin' if actor.is_staff else 'shipper'}"
        if reason:
            note += f": {reason}"
        parcel = steps.parcel_move(
            parcel=parcel, to_status=ParcelStatus.CANCELLED, actor=actor, note=note
        )
    steps.refund_on_commit(parcel)
    return parcel


def _delivery_cancel_by_shipper(*, parcel: Parcel, actor: User, reason: str) -> Delivery:
    """Cancel the parcel's delivery before pickup. If the courier is already on the way (trip
    active), the cancellation fee is kept for them."""
    delivery = deliveries.delivery_active(parcel)
    if delivery is None:
        raise ConflictError(gettext("This parcel has no courier assigned."), code="no_delivery")
    parcel, trip, delivery = deliveries.delivery_lock(delivery.pk)
    if parcel.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError(gettext("This is not your parcel."), code="not_owner")
    if delivery.status != D.ASSIGNED:
        raise ConflictError(
            gettext("The courier has already picked the parcel up; it can no longer be cancelled."),
            code="already_picked_up",
        )
    delivery.trip = trip
    fee = delivery_selectors.cancellation_fee_now(parcel=parcel, delivery=delivery)
    note = gettext_noop("Cancelled by shipper") + (f": {reason}" if reason else "")
    if fee:
        note += f" (courier already on the way: fee {format_money(fee, parcel.currency)})"
    by = (
        CancelledBy.ADMIN
        if actor.is_staff and parcel.shipper_id != actor.pk
        else CancelledBy.SHIPPER
    )
    delivery = steps.delivery_step(
        delivery, D.CANCELLED, actor=actor, note=note, cancelled_by=by, cancellation_fee=fee
    )
    steps.parcel_move(parcel=parcel, to_status=ParcelStatus.CANCELLED, actor=actor, note=note)
    steps.trip_room_free(trip=trip, parcel=parcel)
    return delivery


@transaction.atomic
def delivery_cancel_by_courier(*, delivery: Delivery, actor: User, reason: str = "") -> Delivery:
    """The courier gives the parcel up before pickup: it goes back to matching at once and the
    courier's reliability score drops."""
    parcel, trip, delivery = deliveries.delivery_lock(delivery.pk)
    deliveries.delivery_require_courier(delivery, actor)
    if delivery.status in (D.PICKED_UP, D.IN_TRANSIT, D.FAILED):
        raise ConflictError(
            gettext(
                "You have picked the parcel up: report a failed attempt instead of cancelling."
            ),
            code="already_picked_up",
        )
    note = gettext_noop("Cancelled by courier") + (f": {reason}" if reason else "")
    delivery = steps.delivery_step(
        delivery, D.CANCELLED, actor=actor, note=note, cancelled_by=CancelledBy.COURIER
    )
    matching.offer_cancel_accepted(offer_id=delivery.offer_id)
    parcel = steps.parcel_move(
        parcel=parcel,
        to_status=ParcelStatus.OPEN,
        actor=actor,
        note=gettext_noop("Courier withdrew; back to matching"),
    )
    steps.trip_room_free(trip=trip, parcel=parcel)
    courier_reliability_penalise(courier=actor)
    steps.match_parcel_on_commit(parcel)
    with in_language_of(parcel.shipper):
        deliveries.delivery_tell_shipper(
            parcel,
            "courier_withdrew",
            gettext("The courier gave parcel #%(parcel)s back; we are finding another")
            % {"parcel": parcel.pk},
            delivery,
        )
    return delivery


@transaction.atomic
def trip_cancel(*, trip: Trip, actor: User, reason: str = "") -> Trip:
    """Cancel a trip. Parcels accepted but not yet picked up go back to matching (as when the
    courier cancels them one by one); a trip carrying parcels cannot be cancelled."""
    if delivery_selectors.deliveries_on_trip(
        trip=trip, statuses=[D.PICKED_UP, D.IN_TRANSIT, D.FAILED]
    ).exists():
        raise ConflictError(
            gettext(
                "You are carrying parcels on this trip: deliver them or report "
                "failed attempts first."
            ),
            code="carrying_parcels",
        )
    assigned = list(
        delivery_selectors.deliveries_on_trip(trip=trip, statuses=[D.ASSIGNED]).order_by(
            "parcel_id"
        )
    )
    # Lock order: parcels, then the trip.
    parcels.parcels_lock([d.parcel_id for d in assigned])
    trips.trip_lock(trip.pk)
    courier = trip.courier
    for delivery in assigned:
        delivery_cancel_by_courier(delivery=delivery, actor=courier, reason="trip cancelled")
    note = gettext_noop("Cancelled") + (f": {reason}" if reason else "")
    return steps.trip_move(trip=trip, to_status=TripStatus.CANCELLED, actor=actor, note=note)
