"""Writes for deliveries: create one from an accepted offer, move it one checked step with an
audit row, check the courier's codes, reissue codes, ratings. These change deliveries only; each
step of the lifecycle (the parcel moving with its delivery, the trip's room, the payment, the
tracking pages, re-matching) is `marketplace.lifecycle.delivering` / `.cancelling`, which call
these with the rows locked by `delivery_lock`.

Lock order: parcel, then trip, then delivery (as in matching).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    TooManyAttemptsError,
)
from marketplace.core.state_machine import check_transition
from marketplace.deliveries.co2 import co2_saved_grams
from marketplace.deliveries.models import (
    ACTIVE_STATUSES,
    DELIVERY_TRANSITIONS,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Rating,
)
from marketplace.matching.models import Offer
from marketplace.notifications.services import notify
from marketplace.parcels.models import Parcel
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
        delivery=delivery,
        to_status=D.ASSIGNED,
        actor_id=offer.courier_id,
        note=gettext_noop("Offer accepted"),
    )
    return delivery


def delivery_lock(delivery_id: int) -> tuple[Parcel, Trip, Delivery]:
    """Lock a delivery's parcel, trip and row, in the codebase's lock order."""
    row = Delivery.objects.values("parcel_id", "trip_id").get(pk=delivery_id)
    parcel = Parcel.objects.select_for_update().get(pk=row["parcel_id"])
    trip = Trip.objects.select_for_update().get(pk=row["trip_id"])
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    return parcel, trip, delivery


def delivery_require_courier(delivery: Delivery, actor: User) -> None:
    if delivery.courier_id != actor.pk:
        raise NotAllowedError(
            gettext("Only the assigned courier can do this."), code="not_assigned_courier"
        )


def delivery_move(
    delivery: Delivery, to: str, *, actor: User | None, note: str = "", **fields: Any
) -> Delivery:
    """Move a locked delivery one step if DELIVERY_TRANSITIONS allows it, with an audit row."""
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
    return delivery


def delivery_check_code(*, delivery_id: int, actor: User, code: str, kind: str) -> None:
    """Count the attempt and compare in its own transaction, so a wrong guess is remembered
    even though the caller's step is refused."""
    attempts_field = f"{kind}_code_attempts"
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        delivery_require_courier(delivery, actor)
        # A code is only checked at its step, so guesses at the wrong time cost no attempts.
        step = D.PICKED_UP if kind == "pickup" else D.DELIVERED
        check_transition(
            table=DELIVERY_TRANSITIONS, current=delivery.status, target=step, label="delivery"
        )
        if getattr(delivery, attempts_field) >= settings.DELIVERY_CODE_MAX_ATTEMPTS:
            raise TooManyAttemptsError(
                gettext("Too many wrong %(kind)s codes. Ask the shipper to issue a new code.")
                % {"kind": kind},
            )
        expected = getattr(delivery, f"{kind}_code")
        if secrets.compare_digest(str(code).strip(), expected):
            return
        Delivery.objects.filter(pk=delivery_id).update(**{attempts_field: F(attempts_field) + 1})
        left = settings.DELIVERY_CODE_MAX_ATTEMPTS - getattr(delivery, attempts_field) - 1
    raise ApplicationError(
        gettext("Wrong %(kind)s code. %(left)s attempt(s) left.") % {"kind": kind, "left": left},
        code="wrong_code",
        extra={"attempts_left": left},
    )


def delivery_tell_shipper(parcel: Parcel, kind: str, title: str, delivery: Delivery) -> None:
    notify(
        user=parcel.shipper,
        kind=kind,
        title=title,
        data={"parcel_id": parcel.pk, "delivery_id": delivery.pk, "status": delivery.status},
    )


def delivery_active(parcel: Parcel) -> Delivery | None:
    """The parcel's delivery that a courier still has in hand, if any."""
    return Delivery.objects.filter(parcel=parcel, status__in=ACTIVE_STATUSES).first()


@transaction.atomic
def delivery_reissue_code(*, delivery: Delivery, actor: User, kind: str) -> Delivery:
    """The shipper issues a new pickup or delivery code (after a lock-out, or a leak)."""
    if kind not in ("pickup", "delivery"):
        raise ApplicationError(gettext("kind must be 'pickup' or 'delivery'."))
    parcel, _trip, delivery = delivery_lock(delivery.pk)
    if parcel.shipper_id != actor.pk:
        raise NotAllowedError(gettext("This is not your parcel."), code="not_owner")
    if not delivery.is_active:
        raise ConflictError(gettext("The delivery is over."), code="delivery_closed")
    setattr(delivery, f"{kind}_code", _code())
    setattr(delivery, f"{kind}_code_attempts", 0)
    delivery.save()
    return delivery


@transaction.atomic
def rating_create(*, delivery: Delivery, rater: User, stars: int, comment: str = "") -> Rating:
    delivery = Delivery.objects.select_related("parcel").get(pk=delivery.pk)
    if delivery.status != D.DELIVERED:
        raise ConflictError(
            gettext("Ratings open once the parcel is delivered."), code="not_delivered"
        )
    if rater.pk == delivery.parcel.shipper_id:
        ratee_id = delivery.courier_id
    elif rater.pk == delivery.courier_id:
        ratee_id = delivery.parcel.shipper_id
    else:
        raise NotAllowedError(gettext("Only the shipper and the courier rate a delivery."))
    if not 1 <= stars <= 5:
        raise ApplicationError(
            gettext("Stars go from 1 to 5."), fields={"stars": ["Between 1 and 5."]}
        )
    if Rating.objects.filter(delivery=delivery, rater=rater).exists():
        raise ConflictError(gettext("You have already rated this delivery."), code="already_rated")
    return Rating.objects.create(
        delivery=delivery, rater=rater, ratee_id=ratee_id, stars=stars, comment=comment[:500]
    )
