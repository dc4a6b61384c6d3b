"""Writes for returns. A return is a reverse parcel, created with parcels' own `parcel_create`
(so the same quote, payment and matching apply) and linked to the original by a ParcelReturn.

- The shipper asks (web or API) within RETURN_WINDOW_DAYS of delivery: approved at once.
- The recipient asks through the tracking link: the shipper (or an admin) approves or refuses.
- After a failed attempt the courier or an admin sends the parcel back: approved at once.
- Approved: the original parcel is "returning"; the reverse parcel opens to couriers once paid
  (RETURN_FEE_PAYER "shipper", the ordinary pay page) or at once (paid by the platform, or when
  payments are off).
- The reverse parcel delivered: the original is "returned" and, per RETURN_REFUND_ORIGINAL, part
  of its price goes back through the ledger. Cancelled or expired: the original is as it was.

Lock order: the original parcel first (then whatever parcels' and payments' services lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.core.images import clean_photo
from marketplace.core.state_machine import check_transition
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.parcels.services import parcel_create, parcel_publish, parcel_transition
from marketplace.returns import selectors
from marketplace.returns.models import (
    LIVE_STATUSES,
    RETURN_TRANSITIONS,
    ParcelReturn,
    RequestedBy,
    ReturnEvent,
    ReturnPhoto,
    ReturnReason,
    ReturnStatus,
)

R = ReturnStatus
MAX_PHOTOS = 5
MAX_REASON_CHARS = 1000
# Place fields a requester may give for the way back.
PICKUP_FIELDS = ("pickup_point", "pickup_address", "pickup_contact_name", "pickup_contact_phone")
DROPOFF_FIELDS = (
    "dropoff_point",
    "dropoff_address",
    "dropoff_contact_name",
    "dropoff_contact_phone",
)
WINDOW_FIELDS = (
    "pickup_window_start",
    "pickup_window_end",
    "delivery_window_start",
    "delivery_window_end",
)


def _move(parcel_return: ParcelReturn, to: str, *, actor: User | None, note: str = "") -> None:
    check_transition(
        table=RETURN_TRANSITIONS, current=parcel_return.status, target=to, label="return"
    )
    ReturnEvent.objects.create(
        parcel_return=parcel_return,
        from_status=parcel_return.status,
        to_status=to,
        actor=actor,
        note=note[:500],
    )
    parcel_return.status = to
    parcel_return.save(update_fields=["status", "updated_at"])


def _lock_parcel(parcel: Parcel) -> Parcel:
    return Parcel.objects.select_for_update().get(pk=parcel.pk)


def _lock_return(parcel_return: ParcelReturn) -> tuple[Parcel, ParcelReturn]:
    original = Parcel.objects.select_for_update().get(pk=parcel_return.original_id)
    return original, ParcelReturn.objects.select_for_update().get(pk=parcel_return.pk)


def _clean_reason(reason_code: str, reason: str) -> str:
    errors: dict[str, list[str]] = {}
    if reason_code not in ReturnReason.values:
        errors["reason_code"] = [f"Choose one of {', '.join(ReturnReason.values)}."]
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        errors["reason"] = [f"At most {MAX_REASON_CHARS} characters."]
    elif reason_code == ReturnReason.OTHER and not reason:
        errors["reason"] = ["Say why the parcel goes back."]
    if errors:
        raise ApplicationError("The return request has invalid fields.", fields=errors)
    return reason


def _clean_photos(photos: Sequence[Any]) -> list[Any]:
    if len(photos) > MAX_PHOTOS:
        message = f"At most {MAX_PHOTOS} photos."
        raise ApplicationError(message, code="too_many_photos", fields={"photos": [message]})
    return [clean_photo(photo, field="photos") for photo in photos]


def _default_windows(now: datetime) -> dict[str, datetime]:
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return {
        "pickup_window_start": start,
        "pickup_window_end": start + timedelta(hours=settings.RETURN_PICKUP_WINDOW_HOURS),
        "delivery_window_start": start,
        "delivery_window_end": start + timedelta(hours=settings.RETURN_DELIVERY_WINDOW_HOURS),
    }


def _reverse_fields(
    original: Parcel, *, place: dict[str, Any], handed_over_by: User | None
) -> dict[str, Any]:
    """The way back: from the original's drop-off (or the place given) to its pickup (or the
    shipper's return address), with default windows unless given."""
    unknown = set(place) - set(PICKUP_FIELDS + DROPOFF_FIELDS + WINDOW_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown return fields: {', '.join(sorted(unknown))}.")
    fields: dict[str, Any] = {
        "description": f"Return of parcel #{original.pk}: {original.description}"[:200],
        "size_class": original.size_class,
        "weight_grams": original.weight_grams,
        "declared_value": original.declared_value,
        "pickup_point": original.dropoff_point,
        "pickup_address": original.dropoff_address,
        "pickup_contact_name": original.dropoff_contact_name,
        "pickup_contact_phone": original.dropoff_contact_phone,
        "dropoff_point": original.pickup_point,
        "dropoff_address": original.pickup_address,
        "dropoff_contact_name": original.pickup_contact_name,
        "dropoff_contact_phone": original.pickup_contact_phone,
        **_default_windows(timezone.now()),
    }
    if handed_over_by is not None:  # the courier of the failed attempt still has the parcel
        fields["pickup_contact_name"] = handed_over_by.get_full_name() or handed_over_by.email
        fields["pickup_contact_phone"] = handed_over_by.phone or original.dropoff_contact_phone
    fields.update({name: value for name, value in place.items() if value not in (None, "")})
    if "pickup_window_start" in place and "delivery_window_start" not in place:
        fields["delivery_window_start"] = fields["pickup_window_start"]
    return fields


def _create(
    *,
    original: Parcel,
    requested_by: str,
    requester: User | None,
    reason_code: str,
    reason: str,
    photos: Sequence[Any],
    place: dict[str, Any],
    handed_over_by: User | None = None,
) -> ParcelReturn:
    reason = _clean_reason(reason_code, reason)
    cleaned = _clean_photos(photos)
    if ParcelReturn.objects.filter(original=original, status__in=LIVE_STATUSES).exists():
        raise ConflictError("This parcel already has a return.", code="return_exists")
    fields = _reverse_fields(original, place=place, handed_over_by=handed_over_by)
    reverse = parcel_create(shipper=original.shipper, publish=False, **fields)
    Parcel.objects.filter(pk=reverse.pk).update(is_return=True)
    reverse.is_return = True
    try:
        with transaction.atomic():
            parcel_return = ParcelReturn.objects.create(
                original=original,
                reverse=reverse,
                status=R.REQUESTED,
                requested_by=requested_by,
                requester=requester,
                reason_code=reason_code,
                reason=reason,
                paid_by=settings.RETURN_FEE_PAYER,
            )
    except IntegrityError as exc:  # asked at the same moment through another way in
        raise ConflictError("This parcel already has a return.", code="return_exists") from exc
    ReturnEvent.objects.create(
        parcel_return=parcel_return, to_status=R.REQUESTED, actor=requester, note=reason[:500]
    )
    for photo in cleaned:
        ReturnPhoto.objects.create(parcel_return=parcel_return, image=photo)
    return parcel_return


def _check_window(original: Parcel) -> None:
    if original.is_return:
        raise ConflictError("A return cannot itself be returned.", code="not_returnable")
    if original.status != ParcelStatus.DELIVERED:
        raise ConflictError(
            f"Only a delivered parcel can be returned; this one is {original.status}.",
            code="not_delivered",
        )
    closes = selectors.return_window_closes_at(parcel=original)
    if closes is None or timezone.now() > closes:
        raise ConflictError(
            f"Returns can be asked within {settings.RETURN_WINDOW_DAYS} days of delivery; "
            f"that window closed on {closes:%Y-%m-%d %H:%M %Z}.",
            code="return_window_closed",
            extra={"window_closed_at": closes.isoformat() if closes else None},
        )


@transaction.atomic
def return_request(
    *,
    parcel: Parcel,
    actor: User,
    reason_code: str,
    reason: str = "",
    photos: Sequence[Any] = (),
    **place: Any,
) -> ParcelReturn:
    """The shipper (or an admin for them) sends a delivered parcel back. Approved at once."""
    original = _lock_parcel(parcel)
    if original.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError("This is not your parcel.", code="not_owner")
    _check_window(original)
    parcel_return = _create(
        original=original,
        requested_by=RequestedBy.SHIPPER if original.shipper_id == actor.pk else RequestedBy.ADMIN,
        requester=actor,
        reason_code=reason_code,
        reason=reason,
        photos=photos,
        place=place,
    )
    return _approve(original, parcel_return, actor=actor, note="Asked by the shipper")


@transaction.atomic
def return_request_by_recipient(
    *,
    parcel: Parcel,
    reason_code: str,
    reason: str = "",
    photos: Sequence[Any] = (),
    **place: Any,
) -> ParcelReturn:
    """The recipient asks through the tracking link (the caller checked the token). The parcel
    goes back only once its shipper (who pays) or an admin approves."""
    original = _lock_parcel(parcel)
    _check_window(original)
    unknown = set(place) - set(PICKUP_FIELDS)
    if unknown:  # the recipient may say where to collect it, not where it goes
        raise ApplicationError(f"Unknown return fields: {', '.join(sorted(unknown))}.")
    parcel_return = _create(
        original=original,
        requested_by=RequestedBy.RECIPIENT,
        requester=None,
        reason_code=reason_code,
        reason=reason,
        photos=photos,
        place=place,
    )
    from marketplace.notifications.services import notify

    notify(
        user=original.shipper,
        kind="return_requested",
        title=f"The recipient of parcel #{original.pk} asks to send it back",
        body=f"{parcel_return.get_reason_code_display()}. {parcel_return.reason}".strip(),
        data={"parcel_id": original.pk, "return_id": parcel_return.pk},
    )
    return parcel_return


@transaction.atomic
def return_send_back(
    *,
    delivery: Delivery,
    actor: User,
    reason: str,
    reason_code: str = ReturnReason.UNDELIVERABLE,
    **place: Any,
) -> ParcelReturn:
    """After a failed attempt, the courier (or an admin) sends the parcel back to its sender."""
    from marketplace.deliveries.services import delivery_send_back

    original = _lock_parcel(delivery.parcel)
    delivery.refresh_from_db()
    if not actor.is_staff and delivery.courier_id != actor.pk:
        raise NotAllowedError("Only the assigned courier can do this.", code="not_assigned_courier")
    if original.is_return:
        raise ConflictError(
            "The way back of a return cannot itself be sent back: try again, or hand it to "
            "another courier.",
            code="not_returnable",
        )
    if original.status != ParcelStatus.DELIVERY_FAILED or delivery.status not in (
        DeliveryStatus.FAILED,
        DeliveryStatus.RETURNED,
    ):
        raise ConflictError(
            "Only a parcel whose delivery failed can be sent back this way; "
            f"this one is {original.status}.",
            code="not_failed",
        )
    holder = None
    if delivery.status == DeliveryStatus.FAILED:
        holder = delivery.courier
    parcel_return = _create(
        original=original,
        requested_by=RequestedBy.ADMIN if actor.is_staff else RequestedBy.COURIER,
        requester=actor,
        reason_code=reason_code,
        reason=reason,
        photos=(),
        place=place,
        handed_over_by=holder,
    )
    if delivery.status == DeliveryStatus.FAILED:
        delivery_send_back(delivery=delivery, actor=actor, reason=reason or "undeliverable")
    else:  # sent back before, and that return was called off: the parcel waits for this one
        parcel_transition(
            parcel=original, to_status=ParcelStatus.RETURNING, actor=actor, note="Sent back"
        )
    original.refresh_from_db()
    return _approve(original, parcel_return, actor=actor, note="Sent back after a failed delivery")


def _approve(
    original: Parcel, parcel_return: ParcelReturn, *, actor: User | None, note: str
) -> ParcelReturn:
    """Approve (rows locked by the caller): the original is returning; the way back opens to
    couriers once paid (or at once if the platform pays or payments are off)."""
    _move(parcel_return, R.APPROVED, actor=actor, note=note)
    parcel_return.decided_by, parcel_return.decided_at = actor, timezone.now()
    parcel_return.save(update_fields=["decided_by", "decided_at", "updated_at"])
    if original.status == ParcelStatus.DELIVERED:
        parcel_transition(
            parcel=original, to_status=ParcelStatus.RETURNING, actor=actor, note="Return approved"
        )
    reverse = parcel_return.reverse
    if parcel_return.paid_by == "platform" and settings.PAYMENTS_REQUIRED:
        from marketplace.payments.services import payment_fund_by_platform

        payment_fund_by_platform(parcel=reverse)
        reverse.refresh_from_db()
    elif not settings.PAYMENTS_REQUIRED:
        parcel_return.reverse = parcel_publish(parcel=reverse, actor=reverse.shipper)
    else:
        from marketplace.notifications.services import notify

        notify(
            user=original.shipper,
            kind="return_payment_needed",
            title=f"Pay for the return of parcel #{original.pk}",
            body="The way back opens to couriers once it is paid.",
            data={"parcel_id": reverse.pk, "return_id": parcel_return.pk},
        )
    return parcel_return


def _require_decider(parcel_return: ParcelReturn, original: Parcel, actor: User) -> None:
    if original.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError("Only the parcel's shipper or an admin decides.", code="not_owner")


@transaction.atomic
def return_approve(*, parcel_return: ParcelReturn, actor: User) -> ParcelReturn:
    """The shipper (or an admin) approves a return the recipient asked for."""
    original, parcel_return = _lock_return(parcel_return)
    _require_decider(parcel_return, original, actor)
    if parcel_return.status != R.REQUESTED:
        raise ConflictError(
            f"Only a requested return can be approved; this one is {parcel_return.status}.",
            code="not_requested",
        )
    if original.status != ParcelStatus.DELIVERED:
        raise ConflictError(
            f"The parcel is {original.status}; it cannot go back now.", code="not_delivered"
        )
    return _approve(original, parcel_return, actor=actor, note="Approved")


@transaction.atomic
def return_refuse(*, parcel_return: ParcelReturn, actor: User, reason: str) -> ParcelReturn:
    """Refuse a return before a courier takes the way back: nothing moves, and a payment made
    for the way back is refunded (the reverse parcel is cancelled like any other)."""
    from marketplace.parcels.services import parcel_cancel

    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the return is refused.", fields={"reason": ["Required."]})
    original, parcel_return = _lock_return(parcel_return)
    _require_decider(parcel_return, original, actor)
    if parcel_return.status == R.APPROVED and not actor.is_staff:
        raise NotAllowedError("An approved return can be refused by an admin only.")
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    if parcel_return.status not in (R.REQUESTED, R.APPROVED) or reverse.status not in (
        ParcelStatus.DRAFT,
        ParcelStatus.OPEN,
    ):
        raise ConflictError(
            "Only a return that no courier has taken yet can be refused.", code="not_refusable"
        )
    _move(parcel_return, R.REFUSED, actor=actor, note=reason)
    parcel_return.decided_by, parcel_return.decided_at = actor, timezone.now()
    parcel_return.refusal_reason = reason[:500]
    parcel_return.save(update_fields=["decided_by", "decided_at", "refusal_reason", "updated_at"])
    # Cancelling the way back puts the original back where it was (reverse_parcel_moved).
    parcel_cancel(parcel=reverse, actor=actor, reason=f"Return refused: {reason}")
    return parcel_return


def _restore(original: Parcel, *, actor: User | None, note: str) -> None:
    """The way back is off: the original is where it was (delivered, or failed)."""
    original.refresh_from_db()
    if original.status != ParcelStatus.RETURNING:
        return
    was_delivered = Delivery.objects.filter(
        parcel=original, status=DeliveryStatus.DELIVERED
    ).exists()
    target = ParcelStatus.DELIVERED if was_delivered else ParcelStatus.DELIVERY_FAILED
    parcel_transition(parcel=original, to_status=target, actor=actor, note=note)


def reverse_parcel_moved(*, parcel: Parcel, to_status: str, actor: User | None) -> None:
    """Called by parcel_transition (inside its transaction) when a reverse parcel moves."""
    if to_status not in (ParcelStatus.DELIVERED, ParcelStatus.CANCELLED, ParcelStatus.EXPIRED):
        return
    parcel_return = ParcelReturn.objects.filter(reverse=parcel).first()
    if parcel_return is None:
        return
    original, parcel_return = _lock_return(parcel_return)
    if to_status == ParcelStatus.DELIVERED:
        _move(parcel_return, R.COMPLETED, actor=actor, note="Back with the sender")
        parcel_return.completed_at = timezone.now()
        parcel_return.save(update_fields=["completed_at", "updated_at"])
        parcel_transition(
            parcel=original, to_status=ParcelStatus.RETURNED, actor=actor, note="Returned"
        )
        failed = not Delivery.objects.filter(
            parcel=original, status=DeliveryStatus.DELIVERED
        ).exists()
        if failed or settings.RETURN_REFUND_ORIGINAL == "platform_fee":
            _refund_original_on_commit(parcel_return)
        from marketplace.notifications.services import notify

        notify(
            user=original.shipper,
            kind="return_completed",
            title=f"Parcel #{original.pk} is back with you",
            data={"parcel_id": original.pk, "return_id": parcel_return.pk},
        )
        return
    if parcel_return.status in (R.REQUESTED, R.APPROVED):
        word = "cancelled" if to_status == ParcelStatus.CANCELLED else "expired"
        _move(parcel_return, R.CANCELLED, actor=actor, note=f"The way back was {word}")
    _restore(original, actor=actor, note="Return called off")


def _refund_original_on_commit(parcel_return: ParcelReturn) -> None:
    from marketplace.payments import tasks

    enqueue_on_commit(tasks.refund_returned_parcel, parcel_return.original_id)


@transaction.atomic
def return_refund_original(*, parcel_return: ParcelReturn, actor: User) -> ParcelReturn:
    """An admin refunds the original order for this return, whatever the policy: in full if
    the delivery failed, else the platform's fee (the courier's share was earned). Once only."""
    if not actor.is_staff:
        raise NotAllowedError("Only an admin refunds.", code="not_staff")
    _original, parcel_return = _lock_return(parcel_return)
    if parcel_return.status in (R.REFUSED, R.CANCELLED):
        raise ConflictError(
            f"This return was {parcel_return.status}: nothing to refund.", code="not_refundable"
        )
    _refund_original_on_commit(parcel_return)
    return parcel_return
