"""Writes for returns: the ParcelReturn and its checked moves. A return is a reverse parcel,
created with parcels' own `parcel_create` (so the same quote, payment and matching apply) and
linked to the original by a ParcelReturn. The flows below, which also move parcels, open the way
back and refund, are `marketplace.lifecycle.returning`'s; these change returns only.

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
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.core.images import clean_photo
from marketplace.core.state_machine import check_transition
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns import selectors
from marketplace.returns.models import (
    LIVE_STATUSES,
    RETURN_TRANSITIONS,
    ParcelReturn,
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


def return_move(
    parcel_return: ParcelReturn, to: str, *, actor: User | None, note: str = ""
) -> None:
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


def return_lock(parcel_return: ParcelReturn) -> tuple[Parcel, ParcelReturn]:
    """Lock the original parcel, then the return (the lock order)."""
    original = Parcel.objects.select_for_update().get(pk=parcel_return.original_id)
    return original, ParcelReturn.objects.select_for_update().get(pk=parcel_return.pk)


def _clean_reason(reason_code: str, reason: str) -> str:
    errors: dict[str, list[str]] = {}
    if reason_code not in ReturnReason.values:
        errors["reason_code"] = [
            gettext("Choose one of %(join)s.") % {"join": ", ".join(ReturnReason.values)}
        ]
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        errors["reason"] = [
            gettext("At most %(MAX_REASON_CHARS)s characters.")
            % {"MAX_REASON_CHARS": MAX_REASON_CHARS}
        ]
    elif reason_code == ReturnReason.OTHER and not reason:
        errors["reason"] = [gettext("Say why the parcel goes back.")]
    if errors:
        raise ApplicationError(gettext("The return request has invalid fields."), fields=errors)
    return reason


def _clean_photos(photos: Sequence[Any]) -> list[Any]:
    if len(photos) > MAX_PHOTOS:
        message = gettext("At most %(MAX_PHOTOS)s photos.") % {"MAX_PHOTOS": MAX_PHOTOS}
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


def reverse_parcel_fields(
    original: Parcel, *, place: dict[str, Any], handed_over_by: User | None
) -> dict[str, Any]:
    """The way back: from the original's drop-off (or the place given) to its pickup (or the
    shipper's return address), with default windows unless given."""
    unknown = set(place) - set(PICKUP_FIELDS + DROPOFF_FIELDS + WINDOW_FIELDS)
    if unknown:
        raise ApplicationError(
            gettext("Unknown return fields: %(join)s.") % {"join": ", ".join(sorted(unknown))}
        )
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
        # The same goods: declared when they were sent, as fragile as they were.
        "prohibited_items_declared": True,
        "fragile": original.fragile,
        **_default_windows(timezone.now()),
    }
    if handed_over_by is not None:  # the courier of the failed attempt still has the parcel
        fields["pickup_contact_name"] = handed_over_by.get_full_name() or handed_over_by.email
        fields["pickup_contact_phone"] = handed_over_by.phone or original.dropoff_contact_phone
    fields.update({name: value for name, value in place.items() if value not in (None, "")})
    if "pickup_window_start" in place and "delivery_window_start" not in place:
        fields["delivery_window_start"] = fields["pickup_window_start"]
    return fields


def return_check_new(
    *, original: Parcel, reason_code: str, reason: str, photos: Sequence[Any]
) -> tuple[str, list[Any]]:
    """Check a new return's reason and photos, and that the parcel has no live return yet.
    Returns the cleaned reason and photos."""
    reason = _clean_reason(reason_code, reason)
    cleaned = _clean_photos(photos)
    if ParcelReturn.objects.filter(original=original, status__in=LIVE_STATUSES).exists():
        raise ConflictError(gettext("This parcel already has a return."), code="return_exists")
    return reason, cleaned


def return_record(
    *,
    original: Parcel,
    reverse: Parcel,
    requested_by: str,
    requester: User | None,
    reason_code: str,
    reason: str,
    photos: Sequence[Any],
) -> ParcelReturn:
    """The ParcelReturn linking the original and its way back, with its first event and photos
    (all checked by `return_check_new`)."""
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
        raise ConflictError(
            gettext("This parcel already has a return."), code="return_exists"
        ) from exc
    ReturnEvent.objects.create(
        parcel_return=parcel_return, to_status=R.REQUESTED, actor=requester, note=reason[:500]
    )
    for photo in photos:
        ReturnPhoto.objects.create(parcel_return=parcel_return, image=photo)
    return parcel_return


def return_check_window(original: Parcel) -> None:
    """A delivered parcel, not itself a way back, within RETURN_WINDOW_DAYS of delivery."""
    if original.is_return:
        raise ConflictError(gettext("A return cannot itself be returned."), code="not_returnable")
    if original.status != ParcelStatus.DELIVERED:
        raise ConflictError(
            gettext("Only a delivered parcel can be returned; this one is %(status)s.")
            % {"status": original.status},
            code="not_delivered",
        )
    closes = selectors.return_window_closes_at(parcel=original)
    if closes is None or timezone.now() > closes:
        raise ConflictError(
            gettext(
                "Returns can be asked within %(RETURN_WINDOW_DAYS)s days of "
                "delivery; that window closed on %(closes)s."
            )
            % {
                "RETURN_WINDOW_DAYS": settings.RETURN_WINDOW_DAYS,
                "closes": format(closes, "%Y-%m-%d %H:%M %Z"),
            },
            code="return_window_closed",
            extra={"window_closed_at": closes.isoformat() if closes else None},
        )


def return_check_recipient_place(place: dict[str, Any]) -> None:
    unknown = set(place) - set(PICKUP_FIELDS)
    if unknown:  # the recipient may say where to collect it, not where it goes
        raise ApplicationError(
            gettext("Unknown return fields: %(join)s.") % {"join": ", ".join(sorted(unknown))}
        )


def return_mark_approved(parcel_return: ParcelReturn, *, actor: User | None, note: str) -> None:
    return_move(parcel_return, R.APPROVED, actor=actor, note=note)
    parcel_return.decided_by, parcel_return.decided_at = actor, timezone.now()
    parcel_return.save(update_fields=["decided_by", "decided_at", "updated_at"])


def return_require_decider(parcel_return: ParcelReturn, original: Parcel, actor: User) -> None:
    if original.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError(
            gettext("Only the parcel's shipper or an admin decides."), code="not_owner"
        )


def return_check_approvable(parcel_return: ParcelReturn, original: Parcel) -> None:
    if parcel_return.status != R.REQUESTED:
        raise ConflictError(
            gettext("Only a requested return can be approved; this one is %(status)s.")
            % {"status": parcel_return.status},
            code="not_requested",
        )
    if original.status != ParcelStatus.DELIVERED:
        raise ConflictError(
            gettext("The parcel is %(status)s; it cannot go back now.")
            % {"status": original.status},
            code="not_delivered",
        )


def return_check_refusal_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ApplicationError(
            gettext("Say why the return is refused."), fields={"reason": ["Required."]}
        )


def return_mark_refused(
    parcel_return: ParcelReturn, *, original: Parcel, actor: User, reason: str
) -> Parcel:
    """Refuse a return before a courier takes the way back (the caller holds the locks and
    then cancels the way back). Returns the reverse parcel."""
    reason = (reason or "").strip()
    return_check_refusal_reason(reason)
    return_require_decider(parcel_return, original, actor)
    if parcel_return.status == R.APPROVED and not actor.is_staff:
        raise NotAllowedError(gettext("An approved return can be refused by an admin only."))
    reverse = Parcel.objects.get(pk=parcel_return.reverse_id)
    if parcel_return.status not in (R.REQUESTED, R.APPROVED) or reverse.status not in (
        ParcelStatus.DRAFT,
        ParcelStatus.OPEN,
    ):
        raise ConflictError(
            gettext("Only a return that no courier has taken yet can be refused."),
            code="not_refusable",
        )
    return_move(parcel_return, R.REFUSED, actor=actor, note=reason)
    parcel_return.decided_by, parcel_return.decided_at = actor, timezone.now()
    parcel_return.refusal_reason = reason[:500]
    parcel_return.save(update_fields=["decided_by", "decided_at", "refusal_reason", "updated_at"])
    return reverse


def return_mark_completed(parcel_return: ParcelReturn, *, actor: User | None) -> None:
    return_move(parcel_return, R.COMPLETED, actor=actor, note="Back with the sender")
    parcel_return.completed_at = timezone.now()
    parcel_return.save(update_fields=["completed_at", "updated_at"])


def return_call_off(parcel_return: ParcelReturn, *, actor: User | None, to_status: str) -> bool:
    """The way back was cancelled or expired: a return not yet done is cancelled. Whether it
    was."""
    if parcel_return.status not in (R.REQUESTED, R.APPROVED):
        return False
    word = "cancelled" if to_status == ParcelStatus.CANCELLED else "expired"
    return_move(parcel_return, R.CANCELLED, actor=actor, note=f"The way back was {word}")
    return True


def return_check_refundable(parcel_return: ParcelReturn) -> None:
    if parcel_return.status in (R.REFUSED, R.CANCELLED):
        raise ConflictError(
            gettext("This return was %(status)s: nothing to refund.")
            % {"status": parcel_return.status},
            code="not_refundable",
        )
