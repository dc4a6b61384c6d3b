"""Returning: a parcel goes back to its sender as a reverse parcel, quoted, paid and matched like
any other (see `marketplace.returns` for the return's own states).

- The shipper asks (web or API) within RETURN_WINDOW_DAYS of delivery: approved at once.
- The recipient asks through the tracking link: the shipper (or an admin) approves or refuses.
- After a failed attempt the courier or an admin sends the parcel back: approved at once.
- Approved: the original parcel is "returning"; the reverse parcel opens to couriers once paid
  (RETURN_FEE_PAYER "shipper", the ordinary pay page) or at once (paid by the platform, or when
  payments are off).
- The reverse parcel delivered, cancelled or expired: `steps.parcel_move` moves the return and
  the original with it.

Lock order: the parcel a flow moves first. A return's way back (the reverse parcel) is locked
before its original and the return, as when the way back moves by its own flow (delivered,
cancelled, expired: `steps.parcel_move`); payments' rows come last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core.exceptions import ConflictError, NotAllowedError
from marketplace.core.languages import in_language_of
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle import paying, posting, steps
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.notifications.services import notify
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.refunds import refund_returned_parcel
from marketplace.returns import services as returns
from marketplace.returns.models import ParcelReturn, RequestedBy, ReturnReason

D = DeliveryStatus


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
    """The return and its way back: a draft reverse parcel from the original's drop-off to its
    pickup (or the places given), linked by a requested ParcelReturn."""
    reason, cleaned = returns.return_check_new(
        original=original, reason_code=reason_code, reason=reason, photos=photos
    )
    fields = returns.reverse_parcel_fields(original, place=place, handed_over_by=handed_over_by)
    reverse = parcels.parcel_create(shipper=original.shipper, is_return=True, **fields)
    parcel_return = returns.return_record(
        original=original,
        reverse=reverse,
        requested_by=requested_by,
        requester=requester,
        reason_code=reason_code,
        reason=reason,
        photos=cleaned,
    )
    steps.return_event(parcel_return, original)
    return parcel_return


def _approve(
    original: Parcel, parcel_return: ParcelReturn, *, actor: User | None, note: str
) -> ParcelReturn:
    """Approve (rows locked by the caller): the original is returning; the way back opens to
    couriers once paid (or at once if the platform pays or payments are off)."""
    returns.return_mark_approved(parcel_return, actor=actor, note=note)
    steps.return_event(parcel_return, original)
    if original.status == ParcelStatus.DELIVERED:
        steps.parcel_move(
            parcel=original,
            to_status=ParcelStatus.RETURNING,
            actor=actor,
            note=gettext_noop("Return approved"),
        )
    reverse = parcel_return.reverse
    if parcel_return.paid_by == "platform" and settings.PAYMENTS_REQUIRED:
        paying.parcel_fund_by_platform(parcel=reverse)
        reverse.refresh_from_db()
    elif not settings.PAYMENTS_REQUIRED:
        parcel_return.reverse = posting.parcel_publish(parcel=reverse, actor=reverse.shipper)
    else:
        with in_language_of(original.shipper):
            notify(
                user=original.shipper,
                kind="return_payment_needed",
                title=gettext("Pay for the return of parcel #%(parcel)s") % {"parcel": original.pk},
                body=gettext("The way back opens to couriers once it is paid."),
                data={"parcel_id": reverse.pk, "return_id": parcel_return.pk},
            )
    return parcel_return


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
    original = parcels.parcel_lock(parcel.pk)
    if original.shipper_id != actor.pk and not actor.is_staff:
        raise NotAllowedError(gettext("This is not your parcel."), code="not_owner")
    returns.return_check_window(original)
    parcel_return = _create(
        original=original,
        requested_by=RequestedBy.SHIPPER if original.shipper_id == actor.pk else RequestedBy.ADMIN,
        requester=actor,
        reason_code=reason_code,
        reason=reason,
        photos=photos,
        place=place,
    )
    return _approve(original, parcel_return, actor=actor, note=gettext_noop("Asked by the shipper"))


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
    original = parcels.parcel_lock(parcel.pk)
    returns.return_check_window(original)
    returns.return_check_recipient_place(place)
    parcel_return = _create(
        original=original,
        requested_by=RequestedBy.RECIPIENT,
        requester=None,
        reason_code=reason_code,
        reason=reason,
        photos=photos,
        place=place,
    )
    with in_language_of(original.shipper):
        notify(
            user=original.shipper,
            kind="return_requested",
            title=gettext("The recipient of parcel #%(parcel)s asks to send it back")
            % {"parcel": original.pk},
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
    original = parcels.parcel_lock(delivery.parcel_id)
    delivery.refresh_from_db()
    if not actor.is_staff and delivery.courier_id != actor.pk:
        raise NotAllowedError(
            gettext("Only the assigned courier can do this."), code="not_assigned_courier"
        )
    if original.is_return:
        raise ConflictError(
            gettext(
                "The way back of a return cannot itself be sent back: try again, or "
                "hand it to another courier."
            ),
            code="not_returnable",
        )
    if original.status != ParcelStatus.DELIVERY_FAILED or delivery.status not in (
        D.FAILED,
        D.RETURNED,
    ):
        raise ConflictError(
            gettext(
                "Only a parcel whose delivery failed can be sent back this way; this "
                "one is %(status)s."
            )
            % {"status": original.status},
            code="not_failed",
        )
    holder = None
    if delivery.status == D.FAILED:
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
    if delivery.status == D.FAILED:
        _delivery_send_back(delivery=delivery, actor=actor, reason=reason or "undeliverable")
    else:  # sent back before, and that return was called off: the parcel waits for this one
        steps.parcel_move(
            parcel=original,
            to_status=ParcelStatus.RETURNING,
            actor=actor,
            note=gettext_noop("Sent back"),
        )
    original.refresh_from_db()
    return _approve(
        original, parcel_return, actor=actor, note=gettext_noop("Sent back after a failed delivery")
    )


def _delivery_send_back(*, delivery: Delivery, actor: User, reason: str) -> Delivery:
    """End the failed delivery and mark the parcel as returning: the way back is the reverse
    parcel. The courier keeps the parcel until the return's courier picks it up."""
    parcel, trip, delivery = deliveries.delivery_lock(delivery.pk)
    if not actor.is_staff:
        deliveries.delivery_require_courier(delivery, actor)
    delivery = steps.delivery_step(
        delivery, D.RETURNED, actor=actor, note=f"Sent back to the sender: {reason}"
    )
    steps.parcel_move(
        parcel=parcel, to_status=ParcelStatus.RETURNING, actor=actor, note=f"Sent back: {reason}"
    )
    steps.trip_room_free(trip=trip, parcel=parcel)
    return delivery


@transaction.atomic
def return_approve(*, parcel_return: ParcelReturn, actor: User) -> ParcelReturn:
    """The shipper (or an admin) approves a return the recipient asked for."""
    parcels.parcel_lock(parcel_return.reverse_id)  # the way back before its original
    original, parcel_return = returns.return_lock(parcel_return)
    returns.return_require_decider(parcel_return, original, actor)
    returns.return_check_approvable(parcel_return, original)
    return _approve(original, parcel_return, actor=actor, note=gettext_noop("Approved"))


@transaction.atomic
def return_refuse(*, parcel_return: ParcelReturn, actor: User, reason: str) -> ParcelReturn:
    """Refuse a return before a courier takes the way back: nothing moves, and a payment made
    for the way back is refunded (the reverse parcel is cancelled like any other, which puts
    the original back where it was)."""
    returns.return_check_refusal_reason(reason)
    parcels.parcel_lock(parcel_return.reverse_id)  # the way back before its original
    original, parcel_return = returns.return_lock(parcel_return)
    reverse = returns.return_mark_refused(
        parcel_return, original=original, actor=actor, reason=reason
    )
    steps.return_event(parcel_return, original)
    parcel_cancel(parcel=reverse, actor=actor, reason=f"Return refused: {reason.strip()}")
    return parcel_return


@transaction.atomic
def return_refund_original(*, parcel_return: ParcelReturn, actor: User) -> ParcelReturn:
    """An admin refunds the original order for this return, whatever the policy: in full if
    the delivery failed, else the platform's fee (the courier's share was earned). Once only."""
    if not actor.is_staff:
        raise NotAllowedError(gettext("Only an admin refunds."), code="not_staff")
    _original, parcel_return = returns.return_lock(parcel_return)
    returns.return_check_refundable(parcel_return)
    enqueue_on_commit(refund_returned_parcel, parcel_return.original_id)
    return parcel_return
