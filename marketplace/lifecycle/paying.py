"""Paying: the shipper pays for a parcel (or the platform pays for a return's way back), and a
paid draft opens to couriers in the same transaction as its payment is booked.

Lock order: the parcel, then its payment (escrow's own steps lock the payment rows).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from marketplace.accounts.models import User
from marketplace.core.exceptions import ConflictError
from marketplace.lifecycle import steps
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import escrow, gateway, tips
from marketplace.payments.models import Payment, PaymentStatus, Tip


def payment_start(
    *,
    parcel: Parcel,
    shipper: User,
    payment_method: str | None = None,
    card_token: str | None = None,
) -> Payment:
    """Create (or return) the PaymentIntent for a draft parcel at its quoted price. With a
    `payment_method` (e.g. a saved card, or Stripe's test `pm_card_visa`) or a Stripe.js
    `card_token` it is confirmed at once and its outcome read (paid: the parcel opens);
    otherwise the client confirms it with the returned client secret."""
    try:
        payment = escrow.payment_start(
            parcel=parcel, shipper=shipper, payment_method=payment_method, card_token=card_token
        )
    except ConflictError as exc:
        if exc.code == "already_paid":  # an earlier attempt was paid meanwhile: open the parcel
            parcel_open_if_paid(parcel_id=parcel.pk)
        raise
    if payment_method or card_token:
        payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
        payment.refresh_from_db()
    return payment


def payment_sync(*, payment_intent_id: str) -> Payment | Tip | None:
    """Re-read a PaymentIntent (a parcel's or a tip's) from Stripe and move our side forward
    (never back). Called by the webhook task, after the client's confirmation, and by
    reconciliation."""
    return payment_intent_apply(intent=gateway.payment_intent_retrieve(payment_intent_id))


@transaction.atomic
def payment_intent_apply(*, intent: dict[str, Any]) -> Payment | Tip | None:
    tip = tips.tip_of_intent(intent["id"])
    if tip is not None:
        return tips.tip_apply_intent(tip=tip, intent=intent)
    payment = Payment.objects.filter(stripe_payment_intent_id=intent["id"]).first()
    if payment is None:
        return None
    if intent["status"] != "succeeded":
        return escrow.payment_apply_intent(payment=payment, intent=intent)
    parcel = parcels.parcel_lock(payment.parcel_id)
    newly_paid = payment.status in escrow.LIVE
    payment = escrow.payment_apply_intent(payment=payment, intent=intent)
    if newly_paid and payment.status == PaymentStatus.SUCCEEDED:
        if parcel.status == ParcelStatus.DRAFT:
            parcel_open_paid(parcel=parcel)
        elif parcel.status in (ParcelStatus.CANCELLED, ParcelStatus.EXPIRED):
            # Paid after the shipper gave up (a late card confirmation): give it back.
            steps.refund_on_commit(parcel)
    return payment


def parcel_open_paid(*, parcel: Parcel) -> Parcel:
    """The payment went through: the draft opens to couriers (the caller holds the parcel's
    lock). A window that closed meanwhile is the payment's problem: the parcel expires and is
    refunded."""
    parcel = steps.parcel_move(
        parcel=parcel,
        to_status=ParcelStatus.OPEN,
        actor=None,
        note=gettext_noop("Paid and published"),
    )
    steps.match_parcel_on_commit(parcel)
    return parcel


@transaction.atomic
def parcel_open_if_paid(*, parcel_id: int) -> None:
    """Open a draft whose payment is recorded as paid (one found paid while superseded)."""
    parcel = parcels.parcel_lock(parcel_id)
    payment = escrow.payment_held(parcel_id)
    if (
        parcel.status == ParcelStatus.DRAFT
        and payment is not None
        and payment.status == PaymentStatus.SUCCEEDED
    ):
        parcel_open_paid(parcel=parcel)


@transaction.atomic
def parcel_fund_by_platform(*, parcel: Parcel) -> Payment:
    """A return the platform pays for: the courier's share moves from platform revenue into
    escrow and the way back opens to couriers, as a shipper's payment would open it."""
    parcel = parcels.parcel_lock(parcel.pk)
    payment = escrow.payment_fund_by_platform(parcel=parcel)
    if parcel.status == ParcelStatus.DRAFT:
        parcel_open_paid(parcel=parcel)
    return payment
