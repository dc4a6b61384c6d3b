"""The delivery lifecycle. Only the assigned courier moves a delivery; every step is a checked
transition with an audit row, and the parcel's status moves with it.

Lock order: parcel, then trip, then delivery (as in matching.services).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.accounts.models import CourierProfile, User
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    TooManyAttemptsError,
)
from marketplace.core.money import format_money
from marketplace.core.state_machine import check_transition
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries.co2 import co2_saved_grams
from marketplace.deliveries.models import (
    DELIVERY_TRANSITIONS,
    CancelledBy,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Rating,
)
from marketplace.deliveries.selectors import cancellation_fee_now
from marketplace.matching.models import Offer, OfferStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.parcels.services import parcel_transition
from marketplace.trips.models import Trip

D = DeliveryStatus


def _code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def delivery_create(*, parcel: Parcel, trip: Trip, offer: Offer) -> Delivery:
    """Called by offer_accept with the parcel and trip locked."""
    delivery = Delivery.objects.create(
        parcel=parcel,
        trip=trip,
        courier_id=offer.courier_id,
        offer=offer,
        pickup_code=_code(),
        delivery_code=_code(),
        pickup_position_m=offer.pickup_position_m,
        dropoff_position_m=offer.dropoff_position_m,
        detour_m=offer.detour_m,
        predicted_pickup_at=offer.predicted_pickup_at,
        predicted_dropoff_at=offer.predicted_dropoff_at,
        co2_saved_grams=co2_saved_grams(
            direct_distance_m=parcel.distance_m,
            detour_m=offer.detour_m,
            vehicle_type=trip.vehicle_type,
        ),
    )
    DeliveryEvent.objects.create(
        delivery=delivery, to_status=D.ASSIGNED, actor_id=offer.courier_id, note="Offer accepted"
    )
    return delivery


def _lock(delivery_id: int) -> tuple[Parcel, Trip, Delivery]:
    """Lock a delivery's parcel, trip and row, in the codebase's lock order."""
    row = Delivery.objects.values("parcel_id", "trip_id").get(pk=delivery_id)
    parcel = Parcel.objects.select_for_update().get(pk=row["parcel_id"])
    trip = Trip.objects.select_for_update().get(pk=row["trip_id"])
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    return parcel, trip, delivery


def _require_courier(delivery: Delivery, actor: User) -> None:
    if delivery.courier_id != actor.pk:
        raise NotAllowedError("Only the assigned courier can do this.", code="not_assigned_courier")


def _move(
    delivery: Delivery, to: str, *, actor: User | None, note: str = "", **fields: Any
) -> Delivery:
    check_transition(
        table=DELIVERY_TRANSITIONS, current=delivery.status, target=to, label="delivery"
    )
    from_status = delivery.status
    delivery.status = to
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.save()
    DeliveryEvent.objects.create(
        delivery=delivery, from_status=from_status, to_status=to, actor=actor, note=note[:500]
    )
    from marketplace.tracking.services import tracking_status_broadcast_on_commit

    tracking_status_broadcast_on_commit(delivery=delivery)
    return delivery


def _release_capacity(trip: Trip, parcel: Parcel) -> None:
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=F("reserved_weight_grams") - parcel.weight_grams,
        reserved_parcels=F("reserved_parcels") - 1,
    )


def _check_code(*, delivery_id: int, actor: User, code: str, kind: str) -> None:
    """Count the attempt and compare in its own transaction, so a wrong guess is remembered
    even though the caller's step is refused."""
    attempts_field = f"{kind}_code_attempts"
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        _require_courier(delivery, actor)
        # A code is only checked at its step, so guesses at the wrong time cost no attempts.
        step = D.PICKED_UP if kind == "pickup" else D.DELIVERED
        check_transition(
            table=DELIVERY_TRANSITIONS, current=delivery.status, target=step, label="delivery"
        )
        if getattr(delivery, attempts_field) >= settings.DELIVERY_CODE_MAX_ATTEMPTS:
            raise TooManyAttemptsError(
                f"Too many wrong {kind} codes. Ask the shipper to issue a new code.",
            )
        expected = getattr(delivery, f"{kind}_code")
        if secrets.compare_digest(str(code).strip(), expected):
            return
        Delivery.objects.filter(pk=delivery_id).update(**{attempts_field: F(attempts_field) + 1})
        left = settings.DELIVERY_CODE_MAX_ATTEMPTS - getattr(delivery, attempts_field) - 1
    raise ApplicationError(
        f"Wrong {kind} code. {left} attempt(s) left.",
        code="wrong_code",
        extra={"attempts_left": left},
    )


def delivery_confirm_pickup(*, delivery: Delivery, actor: User, code: str) -> Delivery:
    _check_code(delivery_id=delivery.pk, actor=actor, code=code, kind="pickup")
    with transaction.atomic():
        parcel, _trip, delivery = _lock(delivery.pk)
        _require_courier(delivery, actor)
        delivery = _move(
            delivery,
            D.PICKED_UP,
            actor=actor,
            note="Pickup code confirmed",
            picked_up_at=timezone.now(),
        )
        parcel_transition(parcel=parcel, to_status=ParcelStatus.PICKED_UP, actor=actor)
        _tell_shipper(parcel, "parcel_picked_up", f"Parcel #{parcel.pk} is picked up", delivery)
        return delivery


@transaction.atomic
def delivery_start_transit(*, delivery: Delivery, actor: User) -> Delivery:
    """On the way to the drop-off; also the 'try again' after a failed attempt."""
    parcel, _trip, delivery = _lock(delivery.pk)
    _require_courier(delivery, actor)
    note = "Rescheduled after a failed attempt" if delivery.status == D.FAILED else "In transit"
    delivery = _move(delivery, D.IN_TRANSIT, actor=actor, note=note)
    parcel_transition(parcel=parcel, to_status=ParcelStatus.IN_TRANSIT, actor=actor, note=note)
    return delivery


def delivery_confirm_delivered(
    *,
    delivery: Delivery,
    actor: User,
    code: str,
    photo: UploadedFile | None = None,
    signature: UploadedFile | None = None,
) -> Delivery:
    _check_code(delivery_id=delivery.pk, actor=actor, code=code, kind="delivery")
    with transaction.atomic():
        parcel, trip, delivery = _lock(delivery.pk)
        _require_courier(delivery, actor)
        fields: dict[str, Any] = {"delivered_at": timezone.now()}
        if photo is not None:
            fields["proof_photo"] = photo
        if signature is not None:
            fields["signature_image"] = signature
        delivery = _move(
            delivery, D.DELIVERED, actor=actor, note="Delivery code confirmed", **fields
        )
        parcel_transition(parcel=parcel, to_status=ParcelStatus.DELIVERED, actor=actor)
        _release_capacity(trip, parcel)
        _tell_shipper(parcel, "parcel_delivered", f"Parcel #{parcel.pk} is delivered", delivery)
        from marketplace.payments import tasks as payment_tasks

        enqueue_on_commit(payment_tasks.release_delivery, delivery.pk)
        return delivery


@transaction.atomic
def delivery_fail(*, delivery: Delivery, actor: User, reason: str) -> Delivery:
    if not reason.strip():
        raise ApplicationError("Say why the delivery failed.", fields={"reason": ["Required."]})
    parcel, _trip, delivery = _lock(delivery.pk)
    _require_courier(delivery, actor)
    delivery = _move(
        delivery,
        D.FAILED,
        actor=actor,
        note=f"Failed: {reason}",
        failure_reason=reason[:300],
        failed_attempts=delivery.failed_attempts + 1,
    )
    parcel_transition(
        parcel=parcel, to_status=ParcelStatus.DELIVERY_FAILED, actor=actor, note=reason
    )
    _tell_shipper(
        parcel, "delivery_failed", f"Delivery of parcel #{parcel.pk} failed: {reason}", delivery
    )
    return delivery


@transaction.atomic
def delivery_hand_back(*, delivery: Delivery, actor: User) -> Delivery:
    """After a failed attempt, give the parcel back to matching for another courier."""
    from marketplace.matching import tasks

    parcel, trip, delivery = _lock(delivery.pk)
    _require_courier(delivery, actor)
    delivery = _move(delivery, D.REASSIGNED, actor=actor, note="Handed back to matching")
    Offer.objects.filter(pk=delivery.offer_id).update(status=OfferStatus.CANCELLED)
    parcel_transition(
        parcel=parcel, to_status=ParcelStatus.OPEN, actor=actor, note="Back to matching"
    )
    _release_capacity(trip, parcel)
    enqueue_on_commit(tasks.match_parcel, parcel.pk)
    return delivery


@transaction.atomic
def delivery_send_back(*, delivery: Delivery, actor: User, reason: str) -> Delivery:
    """After a failed attempt, end this delivery and mark the parcel as returning: the way back
    is a reverse parcel (marketplace.returns, which calls this). The assigned courier or an admin
    decides; the courier keeps the parcel until the return's courier picks it up."""
    parcel, trip, delivery = _lock(delivery.pk)
    if not actor.is_staff:
        _require_courier(delivery, actor)
    delivery = _move(delivery, D.RETURNED, actor=actor, note=f"Sent back to the sender: {reason}")
    parcel_transition(
        parcel=parcel, to_status=ParcelStatus.RETURNING, actor=actor, note=f"Sent back: {reason}"
    )
    _release_capacity(trip, parcel)
    return delivery


def _tell_shipper(parcel: Parcel, kind: str, title: str, delivery: Delivery) -> None:
    from marketplace.notifications.services import notify

    notify(
        user=parcel.shipper,
        kind=kind,
        title=title,
        data={"parcel_id": parcel.pk, "delivery_id": delivery.pk, "status": delivery.status},
    )


def _active_delivery(parcel: Parcel) -> Delivery | None:
    return Delivery.objects.filter(
        parcel=parcel, status__in=[D.ASSIGNED, D.PICKED_UP, D.IN_TRANSIT, D.FAILED]
    ).first()


@transaction.atomic
def delivery_cancel_by_shipper(*, parcel: Parcel, actor: User, reason: str = "") -> Delivery:
    """The shipper cancels before pickup. If the courier is already on the way (trip active),
    the cancellation fee is kept for them."""
    parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
    delivery = _active_delivery(parcel)
    if delivery is None:
        raise ConflictError("This parcel has no courier assigned.", code="no_delivery")
    parcel, trip, delivery = _lock(delivery.pk)
    if parcel.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError("This is not your parcel.", code="not_owner")
    if delivery.status != D.ASSIGNED:
        raise ConflictError(
            "The courier has already picked the parcel up; it can no longer be cancelled.",
            code="already_picked_up",
        )
    delivery.trip = trip
    fee = cancellation_fee_now(parcel=parcel, delivery=delivery)
    note = "Cancelled by shipper" + (f": {reason}" if reason else "")
    if fee:
        note += f" (courier already on the way: fee {format_money(fee, parcel.currency)})"
    by = (
        CancelledBy.ADMIN
        if actor.is_staff and parcel.shipper_id != actor.pk
        else CancelledBy.SHIPPER
    )
    delivery = _move(
        delivery, D.CANCELLED, actor=actor, note=note, cancelled_by=by, cancellation_fee=fee
    )
    parcel_transition(parcel=parcel, to_status=ParcelStatus.CANCELLED, actor=actor, note=note)
    _release_capacity(trip, parcel)
    return delivery


@transaction.atomic
def delivery_cancel_by_courier(*, delivery: Delivery, actor: User, reason: str = "") -> Delivery:
    """The courier gives the parcel up before pickup: it goes back to matching at once and the
    courier's reliability score drops."""
    from marketplace.matching import tasks

    parcel, trip, delivery = _lock(delivery.pk)
    _require_courier(delivery, actor)
    if delivery.status in (D.PICKED_UP, D.IN_TRANSIT, D.FAILED):
        raise ConflictError(
            "You have picked the parcel up: report a failed attempt instead of cancelling.",
            code="already_picked_up",
        )
    note = "Cancelled by courier" + (f": {reason}" if reason else "")
    delivery = _move(
        delivery, D.CANCELLED, actor=actor, note=note, cancelled_by=CancelledBy.COURIER
    )
    Offer.objects.filter(pk=delivery.offer_id).update(status=OfferStatus.CANCELLED)
    parcel_transition(
        parcel=parcel,
        to_status=ParcelStatus.OPEN,
        actor=actor,
        note="Courier withdrew; back to matching",
    )
    _release_capacity(trip, parcel)
    CourierProfile.objects.filter(user=actor).update(
        reliability_score=_penalised(F("reliability_score"))
    )
    enqueue_on_commit(tasks.match_parcel, parcel.pk)
    _tell_shipper(
        parcel,
        "courier_withdrew",
        f"The courier gave parcel #{parcel.pk} back; we are finding another",
        delivery,
    )
    return delivery


def _penalised(score: Any) -> Any:
    from django.db.models.functions import Greatest

    return Greatest(score - settings.COURIER_CANCEL_PENALTY, 0)


@transaction.atomic
def delivery_reissue_code(*, delivery: Delivery, actor: User, kind: str) -> Delivery:
    """The shipper issues a new pickup or delivery code (after a lock-out, or a leak)."""
    if kind not in ("pickup", "delivery"):
        raise ApplicationError("kind must be 'pickup' or 'delivery'.")
    parcel, _trip, delivery = _lock(delivery.pk)
    if parcel.shipper_id != actor.pk:
        raise NotAllowedError("This is not your parcel.", code="not_owner")
    if not delivery.is_active:
        raise ConflictError("The delivery is over.", code="delivery_closed")
    setattr(delivery, f"{kind}_code", _code())
    setattr(delivery, f"{kind}_code_attempts", 0)
    delivery.save()
    return delivery


@transaction.atomic
def rating_create(*, delivery: Delivery, rater: User, stars: int, comment: str = "") -> Rating:
    delivery = Delivery.objects.select_related("parcel").get(pk=delivery.pk)
    if delivery.status != D.DELIVERED:
        raise ConflictError("Ratings open once the parcel is delivered.", code="not_delivered")
    if rater.pk == delivery.parcel.shipper_id:
        ratee_id = delivery.courier_id
    elif rater.pk == delivery.courier_id:
        ratee_id = delivery.parcel.shipper_id
    else:
        raise NotAllowedError("Only the shipper and the courier rate a delivery.")
    if not 1 <= stars <= 5:
        raise ApplicationError("Stars go from 1 to 5.", fields={"stars": ["Between 1 and 5."]})
    if Rating.objects.filter(delivery=delivery, rater=rater).exists():
        raise ConflictError("You have already rated this delivery.", code="already_rated")
    return Rating.objects.create(
        delivery=delivery, rater=rater, ratee_id=ratee_id, stars=stars, comment=comment[:500]
    )
