"""Delivering: the courier's trip starts and ends; each delivery step (pickup with the
shipper's code, in transit, delivered with the recipient's code and proof, a failed attempt,
handed back to matching) moves the delivery and its parcel together, frees the trip's room when
the parcel leaves it, tells the shipper, and releases the money on delivery.

Lock order: parcel, then trip, then delivery (`deliveries.services.delivery_lock`).
"""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.core.languages import in_language_of
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries import selectors as delivery_selectors
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle import steps
from marketplace.matching import services as matching
from marketplace.parcels import options
from marketplace.parcels.models import ParcelStatus
from marketplace.payments.escrow import release_delivery
from marketplace.tracking.recipients import recipient_tell
from marketplace.trips.models import Trip, TripStatus

D = DeliveryStatus


def trip_start(*, trip: Trip, actor: User) -> Trip:
    return steps.trip_move(trip=trip, to_status=TripStatus.ACTIVE, actor=actor, note="Started")


@transaction.atomic
def trip_complete(*, trip: Trip, actor: User) -> Trip:
    if delivery_selectors.deliveries_on_trip(
        trip=trip, statuses=[D.ASSIGNED, D.PICKED_UP, D.IN_TRANSIT, D.FAILED]
    ).exists():
        raise ConflictError(
            gettext("Deliver, hand back or cancel this trip's parcels before completing it."),
            code="deliveries_open",
        )
    return steps.trip_move(trip=trip, to_status=TripStatus.COMPLETED, actor=actor, note="Completed")


def delivery_confirm_pickup(*, delivery: Delivery, actor: User, code: str) -> Delivery:
    deliveries.delivery_check_code(delivery_id=delivery.pk, actor=actor, code=code, kind="pickup")
    with transaction.atomic():
        parcel, _trip, delivery = deliveries.delivery_lock(delivery.pk)
        deliveries.delivery_require_courier(delivery, actor)
        delivery = steps.delivery_step(
            delivery,
            D.PICKED_UP,
            actor=actor,
            note=gettext_noop("Pickup code confirmed"),
            picked_up_at=timezone.now(),
        )
        steps.parcel_move(parcel=parcel, to_status=ParcelStatus.PICKED_UP, actor=actor)
        with in_language_of(parcel.shipper):
            title = gettext("Parcel #%(parcel)s is picked up") % {"parcel": parcel.pk}
        deliveries.delivery_tell_shipper(parcel, "parcel_picked_up", title, delivery)
        recipient_tell(delivery=delivery, event="picked_up")
        return delivery


@transaction.atomic
def delivery_start_transit(*, delivery: Delivery, actor: User) -> Delivery:
    """On the way to the drop-off; also the 'try again' after a failed attempt."""
    parcel, _trip, delivery = deliveries.delivery_lock(delivery.pk)
    deliveries.delivery_require_courier(delivery, actor)
    note = (
        gettext_noop("Rescheduled after a failed attempt")
        if delivery.status == D.FAILED
        else gettext_noop("In transit")
    )
    delivery = steps.delivery_step(delivery, D.IN_TRANSIT, actor=actor, note=note)
    steps.parcel_move(parcel=parcel, to_status=ParcelStatus.IN_TRANSIT, actor=actor, note=note)
    return delivery


def delivery_confirm_delivered(
    *,
    delivery: Delivery,
    actor: User,
    code: str = "",
    photo: UploadedFile | None = None,
    signature: UploadedFile | None = None,
    id_checked: bool = False,
) -> Delivery:
    """Delivered with the proof the parcel's options ask for (parcels.options.proof_problems):
    the recipient's code, or a photo at the door; a signature; an ID check. The trip's room is
    free, the shipper told, and the money released to the courier after commit."""
    parcel = delivery.parcel
    problems = options.proof_problems(
        parcel=parcel, code=code, photo=photo, signature=signature, id_checked=id_checked
    )
    if problems:
        raise ApplicationError(
            gettext("The delivery lacks the proof this parcel asks for."),
            code="proof_required",
            fields=problems,
        )
    if code or (parcel.pin_required and not parcel.leave_at_door):
        deliveries.delivery_check_code(
            delivery_id=delivery.pk, actor=actor, code=code, kind="delivery"
        )
    with transaction.atomic():
        parcel, trip, delivery = deliveries.delivery_lock(delivery.pk)
        deliveries.delivery_require_courier(delivery, actor)
        now = timezone.now()
        fields: dict[str, object] = {"delivered_at": now}
        if photo is not None:
            fields["proof_photo"] = photo
        if signature is not None:
            fields["signature_image"] = signature
        if id_checked and parcel.minimum_age:
            fields["id_checked_at"] = now
        if not code and parcel.leave_at_door:
            fields["left_at_door"] = True
            note = gettext_noop("Left at the door (photo)")
        else:
            note = gettext_noop("Delivery code confirmed") if code else gettext_noop("Delivered")
        delivery = steps.delivery_step(delivery, D.DELIVERED, actor=actor, note=note, **fields)
        steps.parcel_move(parcel=parcel, to_status=ParcelStatus.DELIVERED, actor=actor)
        steps.trip_room_free(trip=trip, parcel=parcel)
        with in_language_of(parcel.shipper):
            title = gettext("Parcel #%(parcel)s is delivered") % {"parcel": parcel.pk}
        deliveries.delivery_tell_shipper(parcel, "parcel_delivered", title, delivery)
        enqueue_on_commit(release_delivery, delivery.pk)
        return delivery


@transaction.atomic
def delivery_fail(*, delivery: Delivery, actor: User, reason: str) -> Delivery:
    if not reason.strip():
        raise ApplicationError(
            gettext("Say why the delivery failed."), fields={"reason": [gettext("Required.")]}
        )
    parcel, _trip, delivery = deliveries.delivery_lock(delivery.pk)
    deliveries.delivery_require_courier(delivery, actor)
    delivery = steps.delivery_step(
        delivery,
        D.FAILED,
        actor=actor,
        note=f"Failed: {reason}",
        failure_reason=reason[:300],
        failed_attempts=delivery.failed_attempts + 1,
    )
    steps.parcel_move(
        parcel=parcel, to_status=ParcelStatus.DELIVERY_FAILED, actor=actor, note=reason
    )
    with in_language_of(parcel.shipper):
        title = gettext("Delivery of parcel #%(parcel)s failed: %(reason)s") % {
            "parcel": parcel.pk,
            "reason": reason,
        }
    deliveries.delivery_tell_shipper(parcel, "delivery_failed", title, delivery)
    return delivery


@transaction.atomic
def delivery_hand_back(*, delivery: Delivery, actor: User) -> Delivery:
    """After a failed attempt, give the parcel back to matching for another courier."""
    parcel, trip, delivery = deliveries.delivery_lock(delivery.pk)
    deliveries.delivery_require_courier(delivery, actor)
    delivery = steps.delivery_step(
        delivery, D.REASSIGNED, actor=actor, note=gettext_noop("Handed back to matching")
    )
    matching.offer_cancel_accepted(offer_id=delivery.offer_id)
    parcel = steps.parcel_move(
        parcel=parcel,
        to_status=ParcelStatus.OPEN,
        actor=actor,
        note=gettext_noop("Back to matching"),
    )
    steps.trip_room_free(trip=trip, parcel=parcel)
    steps.match_parcel_on_commit(parcel)
    return delivery
