"""What every flow of the lifecycle shares: a parcel's move (and the return that follows the way
back of one), a trip's move (and the matching index and offers that follow it), a delivery's
step (and the tracking pages that follow it), and the tasks scheduled after commit.

In the lifecycle a parcel moves only through `parcel_move`, a trip only through `trip_move` and
a delivery only through `delivery_step`, so nothing that must follow is forgotten.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core.languages import in_language_of
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries import selectors as delivery_selectors
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.hooks import services as hooks
from marketplace.hooks.models import EventType
from marketplace.matching import services as matching
from marketplace.matching import tasks as matching_tasks
from marketplace.matching.assignment import Load, peak_load
from marketplace.matching.segments import trip_segments_rebuild
from marketplace.notifications.services import notify
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.refunds import refund_cancelled_parcel, refund_returned_parcel
from marketplace.returns import selectors as returns_selectors
from marketplace.returns import services as returns
from marketplace.returns.models import ParcelReturn
from marketplace.tracking.services import tracking_status_broadcast_on_commit
from marketplace.trips import services as trips
from marketplace.trips.models import Trip, TripStatus


# --- after commit -------------------------------------------------------------------------------
def match_parcel_on_commit(parcel: Parcel) -> None:
    enqueue_on_commit(matching_tasks.match_parcel, parcel.pk)


def match_parcels_on_commit(parcel_ids: list[int]) -> None:
    for parcel_id in parcel_ids:
        enqueue_on_commit(matching_tasks.match_parcel, parcel_id)


def match_trip_on_commit(trip: Trip) -> None:
    enqueue_on_commit(matching_tasks.match_trip, trip.pk)


def refund_on_commit(parcel: Parcel) -> None:
    """A cancelled or expired parcel's money goes back (payments decides how much)."""
    enqueue_on_commit(refund_cancelled_parcel, parcel.pk)


# --- parcels ------------------------------------------------------------------------------------
def parcel_move(*, parcel: Parcel, to_status: str, actor: User | None, note: str = "") -> Parcel:
    """Move a parcel (checked, audited); when it is the way back of a return, that return and
    its original parcel follow in the same transaction."""
    from_status = parcel.status
    parcel = parcels.parcel_transition(parcel=parcel, to_status=to_status, actor=actor, note=note)
    hooks.event_record(
        parcel=parcel,
        type=EventType.PARCEL_STATUS_CHANGED,
        data={"from_status": from_status, "to_status": to_status},
    )
    if parcel.is_return:
        _reverse_parcel_moved(parcel=parcel, to_status=to_status, actor=actor)
    return parcel


def _reverse_parcel_moved(*, parcel: Parcel, to_status: str, actor: User | None) -> None:
    """The way back delivered: the return is completed and the original returned (and refunded
    per RETURN_REFUND_ORIGINAL). Cancelled or expired: the original is where it was."""
    if to_status not in (ParcelStatus.DELIVERED, ParcelStatus.CANCELLED, ParcelStatus.EXPIRED):
        return
    parcel_return = returns_selectors.return_of_reverse(parcel=parcel)
    if parcel_return is None:
        return
    original, parcel_return = returns.return_lock(parcel_return)
    if to_status == ParcelStatus.DELIVERED:
        returns.return_mark_completed(parcel_return, actor=actor)
        return_event(parcel_return, original)
        parcel_move(
            parcel=original,
            to_status=ParcelStatus.RETURNED,
            actor=actor,
            note=gettext_noop("Returned"),
        )
        failed = not returns_selectors.parcel_was_delivered(parcel=original)
        if failed or settings.RETURN_REFUND_ORIGINAL == "platform_fee":
            enqueue_on_commit(refund_returned_parcel, original.pk)
        with in_language_of(original.shipper):
            notify(
                user=original.shipper,
                kind="return_completed",
                title=gettext("Parcel #%(parcel)s is back with you") % {"parcel": original.pk},
                data={"parcel_id": original.pk, "return_id": parcel_return.pk},
            )
        return
    if returns.return_call_off(parcel_return, actor=actor, to_status=to_status):
        return_event(parcel_return, original)
    parcel_restore(original, actor=actor, note=gettext_noop("Return called off"))


def parcel_restore(original: Parcel, *, actor: User | None, note: str) -> None:
    """The way back is off: the original is where it was (delivered, or failed)."""
    original.refresh_from_db()
    if original.status != ParcelStatus.RETURNING:
        return
    was_delivered = returns_selectors.parcel_was_delivered(parcel=original)
    target = ParcelStatus.DELIVERED if was_delivered else ParcelStatus.DELIVERY_FAILED
    parcel_move(parcel=original, to_status=target, actor=actor, note=note)


# --- trips --------------------------------------------------------------------------------------
def trip_move(*, trip: Trip, to_status: str, actor: User | None, note: str = "") -> Trip:
    """Move a trip (checked, audited) and keep the matching index in step; a trip that ends
    withdraws its pending offers and those parcels go to the next couriers."""
    trip = trips.trip_transition(trip=trip, to_status=to_status, actor=actor, note=note)
    if to_status in (TripStatus.CANCELLED, TripStatus.COMPLETED):
        match_parcels_on_commit(matching.offers_withdraw_for_trip(trip=trip))
    trip_segments_rebuild([trip.pk])
    return trip


# --- deliveries ---------------------------------------------------------------------------------
def delivery_step(
    delivery: Delivery, to: str, *, actor: User | None, note: str = "", **fields: Any
) -> Delivery:
    """Move a locked delivery one step; the tracking pages hear of it after commit (when
    tracking stops, the courier's marker goes away)."""
    delivery = deliveries.delivery_move(delivery, to, actor=actor, note=note, **fields)
    tracking_status_broadcast_on_commit(delivery=delivery)
    event_type = DELIVERY_EVENTS.get(to)
    if event_type is not None:
        hooks.event_record(
            parcel=delivery.parcel, type=event_type, data={"delivery": delivery_data(delivery)}
        )
    return delivery


# Delivery steps a merchant hears of (outbound webhooks); assignment is offer_accept's.
DELIVERY_EVENTS: dict[str, str] = {
    DeliveryStatus.PICKED_UP: EventType.PICKED_UP,
    DeliveryStatus.DELIVERED: EventType.DELIVERED,
    DeliveryStatus.FAILED: EventType.FAILED,
}


def delivery_data(delivery: Delivery) -> dict[str, Any]:
    """What a merchant's webhook says of a delivery (the courier by first name only)."""
    proofs = {
        name: settings.SITE_URL.rstrip("/") + image.url
        for name, image in (
            ("proof_photo", delivery.proof_photo),
            ("signature", delivery.signature_image),
        )
        if image
    }
    return {
        "id": delivery.pk,
        "status": delivery.status,
        "courier_first_name": delivery.courier.get_short_name(),
        "predicted_pickup_at": delivery.predicted_pickup_at.isoformat(),
        "predicted_dropoff_at": delivery.predicted_dropoff_at.isoformat(),
        "picked_up_at": delivery.picked_up_at.isoformat() if delivery.picked_up_at else None,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "failure_reason": delivery.failure_reason,
        "left_at_door": delivery.left_at_door,
        "id_checked": delivery.id_checked_at is not None,
        "proof_of_delivery": proofs,
    }


def return_event(parcel_return: ParcelReturn, original: Parcel) -> None:
    """A merchant hears of a return of its parcel (`return.<status>`), on the original."""
    hooks.event_record(
        parcel=original,
        type=f"return.{parcel_return.status}",
        data={
            "return": {
                "id": parcel_return.pk,
                "status": parcel_return.status,
                "requested_by": parcel_return.requested_by,
                "reason_code": parcel_return.reason_code,
                "reverse_parcel_id": parcel_return.reverse_id,
            }
        },
    )


def delivery_assigned_event(delivery: Delivery) -> None:
    hooks.event_record(
        parcel=delivery.parcel,
        type=EventType.COURIER_ASSIGNED,
        data={"delivery": delivery_data(delivery)},
    )


def trip_loads(trip: Trip) -> list[Load]:
    """What the trip carries, or has room reserved for, along its route."""
    rows = delivery_selectors.trip_loads(trip_ids=[trip.pk])
    return [Load(*row) for _, *row in rows]


def trip_room_update(*, trip: Trip) -> None:
    """Record the trip's peak load along its route from its deliveries (the caller holds the
    trip's lock, after the delivery that changed it moved)."""
    parcels, weight = peak_load(trip_loads(trip))
    trips.trip_capacity_set(trip=trip, parcels=parcels, weight_grams=weight)


def trip_room_free(*, trip: Trip, parcel: Parcel) -> None:
    """The parcel is off the courier's trip (delivered, cancelled, handed or sent back): the
    room it took is free again."""
    trip_room_update(trip=trip)
