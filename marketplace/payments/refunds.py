"""Refunds: a cancelled parcel (minus the cancellation fee the courier keeps), a parcel that came
back, part or all of a held payment, a released payment given back (its transfer reversed), and
refunds made outside Waypost (`charge.refunded`). Each refund is a row with a fixed key made at
Stripe once and booked once.

Lock order, as everywhere: parcel, then trip, then payment and transfer rows.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.deliveries.models import Delivery
from marketplace.payments import gateway, ledger
from marketplace.payments.escrow import (
    LIVE,
    payment_cancel,
    payment_held,
    payment_lock,
    payment_move,
    platform_funding_undone,
)
from marketplace.payments.models import (
    PAYMENT_TRANSITIONS,
    LedgerAccount,
    Payment,
    PaymentStatus,
    Refund,
    TransferKind,
)
from marketplace.payments.retries import RETRY
from marketplace.payments.transfers import transfer_queue, transfer_reverse

P = PaymentStatus
A = LedgerAccount


def escrow_refund_cancelled(*, parcel_id: int) -> Payment | None:
    """The parcel was cancelled: cancel an unpaid intent, or refund the payment minus the
    cancellation fee the delivery recorded (which goes to the courier)."""

    # Every unpaid attempt is cancelled; a declined one must not hide the attempt that paid.
    cancelled = [
        payment_cancel(payment=live, note="Parcel cancelled")
        for live in Payment.objects.filter(parcel_id=parcel_id, status__in=LIVE).order_by("pk")
    ]
    payment = payment_held(parcel_id)
    if payment is None:
        return cancelled[-1] if cancelled else None
    if payment.status != P.SUCCEEDED:
        return payment
    if payment.funded_by_platform:
        return platform_funding_undone(payment.pk)
    delivery = (
        Delivery.objects.filter(parcel_id=parcel_id, cancellation_fee__gt=0)
        .order_by("-created_at")
        .first()
    )
    fee = min(delivery.cancellation_fee, payment.amount) if delivery else 0
    if fee and delivery is not None:
        with transaction.atomic():
            locked = payment_lock(payment.pk)
            ledger.post(
                kind="cancellation_fee",
                source=f"delivery:{delivery.pk}:cancellation-fee",
                payment=locked,
                entries=[(A.ESCROW, fee, None), (A.COURIER_PAYABLE, -fee, delivery.courier_id)],
                memo="Cancelled after the courier set off",
            )
            transfer_queue(
                payment=locked,
                delivery=delivery,
                kind=TransferKind.CANCELLATION_FEE,
                amount=fee,
                key=f"delivery-{delivery.pk}-cancellation-fee",
            )
            if fee == payment.amount:  # the fee takes it all: nothing to refund
                return payment_move(locked, P.PARTIALLY_REFUNDED, "Cancelled: all of it is the fee")
    return escrow_refund(
        payment_id=payment.pk,
        amount=payment.amount - fee,
        reason="Parcel cancelled" + (" (minus the cancellation fee)" if fee else ""),
        key=f"parcel-{parcel_id}-refund-cancelled",
        final_status=P.PARTIALLY_REFUNDED if fee else P.REFUNDED,
    )


def escrow_refund_returned(*, parcel_id: int) -> Payment | None:
    """The parcel came back to its sender. A failed delivery's money is still held: refunded in
    full. A delivered parcel's was released: the platform's fee is refunded out of platform
    revenue (the courier earned the share). Frozen or already refunded money is left alone."""
    payment = payment_held(parcel_id)
    if payment is None:
        return None
    if payment.status == P.SUCCEEDED:
        return escrow_refund(
            payment_id=payment.pk,
            amount=payment.amount - payment.amount_refunded,
            reason="Returned to the sender after a failed delivery",
            key=f"parcel-{parcel_id}-refund-returned",
            final_status=P.REFUNDED,
        )
    if payment.status != P.RELEASED or not payment.platform_fee:
        return payment
    key = f"parcel-{parcel_id}-refund-fee-returned"
    refund = Refund.objects.filter(idempotency_key=key).first()
    if refund is None:
        with transaction.atomic():
            payment = payment_lock(payment.pk)
            if payment.amount_refunded + payment.platform_fee > payment.amount:
                raise ConflictError(
                    gettext("That is more than is left to refund."), code="refund_too_large"
                )
            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        payment=payment,
                        amount=payment.platform_fee,
                        reason="Returned to the sender: the platform's fee back",
                        idempotency_key=key,
                        from_revenue=True,
                    )
            except IntegrityError:  # asked twice at once: one row
                refund = Refund.objects.get(idempotency_key=key)
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return refund_posted(refund, P.RELEASED)


def escrow_refund(
    *, payment_id: int, amount: int, reason: str, key: str, final_status: str | None = None
) -> Payment:
    """Refund part or all of a held payment. Refuses what localstripe would wrongly allow:
    more than was paid, or a payment that was never captured."""
    payment = Payment.objects.get(pk=payment_id)
    if amount <= 0:
        raise ApplicationError(gettext("A refund must be positive."), code="invalid_amount")
    refund = Refund.objects.filter(idempotency_key=key).first()
    if refund is None:
        with transaction.atomic():
            payment = payment_lock(payment_id)
            if payment.status not in (P.SUCCEEDED, P.DISPUTED, P.PARTIALLY_REFUNDED):
                raise ConflictError(
                    gettext("A %(status)s payment cannot be refunded.")
                    % {"status": payment.status},
                    code="not_refundable",
                )
            if payment.amount_refunded + amount > payment.amount:
                raise ConflictError(
                    gettext("That is more than is left to refund."), code="refund_too_large"
                )
            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        payment=payment, amount=amount, reason=reason[:200], idempotency_key=key
                    )
            except IntegrityError:  # the same refund asked at the same moment: one row
                refund = Refund.objects.get(idempotency_key=key)
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return refund_posted(refund, final_status)


def _refund_at_stripe(refund: Refund, *, charge_id: str) -> Refund:
    """Make the refund at Stripe once, and note its id. A retry first looks for the refund
    tagged with our key among the charge's refunds: the first attempt may have reached Stripe
    and lost its answer, and (beyond Stripe's own idempotency window, or at localstripe, which
    ignores Idempotency-Key) asking again would refund twice. The amount is the recorded one,
    whatever a retry passes. The refund's row is locked meanwhile, so concurrent callers wait and
    then find the id."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if not refund.stripe_refund_id:
            refund.stripe_refund_id = _refund_made_at_stripe(refund, charge_id)["id"]
            refund.save(update_fields=["stripe_refund_id", "updated_at"])
    return refund


def _refund_made_at_stripe(refund: Refund, charge_id: str) -> dict[str, Any]:
    made = next(
        (
            item
            for item in gateway.refunds_of_charge(charge_id)
            if (item.get("metadata") or {}).get("waypost_refund") == refund.idempotency_key
        ),
        None,
    )
    if made is None:
        made = gateway.refund_create(
            charge_id=charge_id,
            amount=refund.amount,
            key=refund.idempotency_key,
            metadata={"waypost_refund": refund.idempotency_key},
        )
    return made


@transaction.atomic
def refund_posted(refund: Refund, final_status: str | None) -> Payment:
    payment = payment_lock(refund.payment_id)
    paid_from = A.PLATFORM_REVENUE if refund.from_revenue else A.ESCROW
    posted = ledger.post(
        kind="refund",
        source=f"refund:{refund.stripe_refund_id}",
        payment=payment,
        entries=[(paid_from, refund.amount, None), (A.STRIPE_BALANCE, -refund.amount, None)],
        memo=refund.reason,
    )
    if posted is not None:
        payment.amount_refunded += refund.amount
        payment.save(update_fields=["amount_refunded", "updated_at"])
    if final_status is None:
        final_status = P.REFUNDED if payment.amount_refunded == payment.amount else payment.status
    if payment.status != final_status and final_status in PAYMENT_TRANSITIONS[payment.status]:
        payment_move(payment, final_status, refund.reason)
    return payment


def escrow_refund_after_release(*, payment_id: int, reason: str) -> Payment:
    """Give a released payment back: reverse the courier's transfer (or cancel it if not yet
    sent), un-earn the fee and share, and refund the shipper in full. A released payment frozen
    by a dispute can be given back too (the admin's refund): it stays frozen until done, so a
    failure leaves it to be decided again and its waiting transfer never goes out meanwhile."""
    payment = Payment.objects.get(pk=payment_id)
    frozen = payment.status == P.DISPUTED and payment.status_before_dispute == P.RELEASED
    if payment.status != P.RELEASED and not frozen:
        raise ConflictError(gettext("Only a released payment is reversed."), code="not_released")
    for transfer in payment.transfers.filter(kind=TransferKind.RELEASE):
        transfer_reverse(transfer.pk)
    with transaction.atomic():
        payment = payment_lock(payment_id)
        release = payment.transfers.get(kind=TransferKind.RELEASE)
        ledger.post(
            kind="unearned",
            source=f"payment:{payment.pk}:unearned",
            payment=payment,
            entries=[
                (A.PLATFORM_REVENUE, payment.platform_fee, None),
                (A.COURIER_PAYABLE, payment.courier_share, release.courier_id),
                (A.ESCROW, -payment.amount, None),
            ],
            memo=reason,
        )
    refund = Refund.objects.filter(idempotency_key=f"payment-{payment.pk}-refund-reversed").first()
    if refund is None:
        refund = Refund.objects.create(
            payment=payment,
            amount=payment.amount - payment.amount_refunded,
            reason=reason[:200],
            idempotency_key=f"payment-{payment.pk}-refund-reversed",
        )
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return refund_posted(refund, P.REVERSED)


def charge_refunds_sync(*, charge_id: str) -> Payment | None:
    """`charge.refunded`: record refunds made outside Waypost (e.g. in Stripe's dashboard), and
    ours whose answer from Stripe has not been recorded yet (tagged with our key)."""
    payment = Payment.objects.filter(stripe_charge_id=charge_id).first()
    if payment is None:
        return None
    for item in gateway.refunds_of_charge(charge_id):
        if Refund.objects.filter(stripe_refund_id=item["id"]).exists():
            continue
        key = (item.get("metadata") or {}).get("waypost_refund") or ""
        refund = Refund.objects.filter(payment=payment, idempotency_key=key).first()
        if refund is not None and not refund.stripe_refund_id:
            Refund.objects.filter(pk=refund.pk).update(stripe_refund_id=item["id"])
            refund.stripe_refund_id = item["id"]
        else:
            refund = Refund.objects.create(
                payment=payment,
                amount=item["amount"],
                reason="Refunded at Stripe",
                idempotency_key=f"external-{item['id']}",
                stripe_refund_id=item["id"],
            )
        payment = refund_posted(refund, None)
    return payment


# --- tasks (declared here: see transfers.py) -----------------------------------------------------
@shared_task(name="marketplace.payments.tasks.refund_cancelled_parcel", **RETRY)
def refund_cancelled_parcel(parcel_id: int) -> None:
    escrow_refund_cancelled(parcel_id=parcel_id)


@shared_task(name="marketplace.payments.tasks.refund_returned_parcel", **RETRY)
def refund_returned_parcel(parcel_id: int) -> None:
    """The parcel came back: refund what the returns policy gives (see escrow_refund_returned)."""
    escrow_refund_returned(parcel_id=parcel_id)
