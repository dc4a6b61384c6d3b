"""Disputes: a chargeback freezes the payment's money (no release, no transfer) until Stripe
decides (won: unfrozen, lost: the escrow gives up what it holds) or an admin does (release,
refund or close). Replays and out-of-order events change nothing more.

Lock order, as everywhere: parcel, then trip, then payment and transfer rows.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import gateway, ledger
from marketplace.payments.escrow import escrow_release, payment_lock, payment_move, release_delivery
from marketplace.payments.models import (
    PAYMENT_TRANSITIONS,
    Dispute,
    DisputeStatus,
    LedgerAccount,
    Payment,
    PaymentStatus,
    TransferStatus,
)
from marketplace.payments.refunds import (
    escrow_refund,
    escrow_refund_after_release,
    refund_cancelled_parcel,
)
from marketplace.payments.transfers import send_transfer

log = logging.getLogger(__name__)
P = PaymentStatus
A = LedgerAccount


def dispute_sync(*, dispute_id: str) -> Dispute | None:
    """Re-read a dispute from Stripe. Opening freezes the payment's money; closing posts the
    outcome. Replays and out-of-order events change nothing more."""
    data = gateway.dispute_retrieve(dispute_id)
    charge_id = data["charge"] if isinstance(data["charge"], str) else data["charge"]["id"]
    payment = Payment.objects.filter(stripe_charge_id=charge_id).first()
    if payment is None:
        log.warning("dispute %s for unknown charge %s", dispute_id, charge_id)
        return None
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        dispute, first_seen = Dispute.objects.get_or_create(
            stripe_dispute_id=dispute_id,
            defaults={
                "payment": payment,
                "amount": data["amount"],
                "reason": data.get("reason", ""),
            },
        )
        ledger.post(
            kind="dispute_opened",
            source=f"dispute:{dispute_id}:opened",
            payment=payment,
            entries=[(A.DISPUTES, dispute.amount, None), (A.STRIPE_BALANCE, -dispute.amount, None)],
            memo=f"Dispute {dispute_id}: {dispute.reason}",
        )
        # Freeze when the dispute is first heard of (whichever event brings it): a replayed or
        # later event about it must not freeze again what an admin has since unfrozen.
        if (
            first_seen
            and dispute.status == DisputeStatus.OPEN
            and P.DISPUTED in PAYMENT_TRANSITIONS[payment.status]
        ):
            payment.status_before_dispute = payment.status
            payment_move(payment, P.DISPUTED, f"Dispute {dispute_id} opened: money frozen")
        outcome = data["status"]
        if outcome == "won" and dispute.status == DisputeStatus.OPEN:
            ledger.post(
                kind="dispute_won",
                source=f"dispute:{dispute_id}:won",
                payment=payment,
                entries=[
                    (A.STRIPE_BALANCE, dispute.amount, None),
                    (A.DISPUTES, -dispute.amount, None),
                ],
            )
            dispute.status = DisputeStatus.WON
            dispute.save()
            _unfreeze(payment, f"Dispute {dispute_id} won")
            _resume_on_commit(payment)
        elif outcome == "lost" and dispute.status == DisputeStatus.OPEN:
            # The escrow gives up what it still holds for this payment (nothing once released,
            # refunded or paid out as a cancellation fee); the rest is the platform's loss.
            held = -ledger.balances(transaction__payment=payment).get(A.ESCROW, 0)
            from_escrow = min(dispute.amount, max(held, 0))
            ledger.post(
                kind="dispute_lost",
                source=f"dispute:{dispute_id}:lost",
                payment=payment,
                entries=[
                    (A.ESCROW, from_escrow, None),
                    (A.DISPUTE_LOSSES, dispute.amount - from_escrow, None),
                    (A.DISPUTES, -dispute.amount, None),
                ],
            )
            dispute.status = DisputeStatus.LOST
            dispute.save()
            if payment.status == P.DISPUTED:
                payment_move(payment, P.DISPUTE_LOST, f"Dispute {dispute_id} lost")
    return dispute


def _unfreeze(payment: Payment, note: str) -> None:
    if payment.status == P.DISPUTED:
        back = payment.status_before_dispute or P.SUCCEEDED
        payment_move(
            payment, back if back in PAYMENT_TRANSITIONS[P.DISPUTED] else P.SUCCEEDED, note
        )
        for transfer in payment.transfers.filter(status=TransferStatus.WAITING):
            enqueue_on_commit(send_transfer, transfer.pk)


def _resume_on_commit(payment: Payment) -> None:
    """After a freeze: do what it held back, the release of a parcel delivered meanwhile or
    the refund of one cancelled meanwhile (both skip a frozen payment)."""

    if payment.status != P.SUCCEEDED:
        return
    delivered = Delivery.objects.filter(
        parcel_id=payment.parcel_id, status=DeliveryStatus.DELIVERED
    ).first()
    if delivered is not None:
        enqueue_on_commit(release_delivery, delivered.pk)
    elif Parcel.objects.filter(
        pk=payment.parcel_id, status__in=[ParcelStatus.CANCELLED, ParcelStatus.EXPIRED]
    ).exists():
        enqueue_on_commit(refund_cancelled_parcel, payment.parcel_id)


def dispute_resolve(
    *, dispute: Dispute, admin: User, action: str, amount: int | None = None, note: str = ""
) -> Payment:
    """An admin's decision on a frozen payment: `release` (to the courier, if delivered),
    `refund` (the shipper; in full, reversing the courier's transfer, if the money had been
    released; else in full or `amount`) or `close` (unfreeze, nothing moves: the payment
    carries on where it was, releasing a parcel delivered meanwhile).

    Everything is checked, and a refund made, while the payment is still frozen: a refused or
    failed decision leaves it frozen, to be decided again, and a waiting transfer never goes
    out ahead of a refund."""

    if action not in ("release", "refund", "close"):
        raise ApplicationError(gettext("action must be release, refund or close."))
    payment = Payment.objects.get(pk=dispute.payment_id)
    if payment.status != P.DISPUTED:
        raise ConflictError(gettext("This payment is not frozen."), code="not_disputed")
    delivery = Delivery.objects.filter(
        parcel_id=payment.parcel_id, status=DeliveryStatus.DELIVERED
    ).first()
    if action == "release" and delivery is None:
        raise ConflictError(
            gettext("The parcel was not delivered: nothing to release."), code="not_delivered"
        )
    if action == "refund":
        reason = f"Dispute {dispute.stripe_dispute_id} refunded by admin"
        if payment.status_before_dispute == P.RELEASED:
            escrow_refund_after_release(payment_id=payment.pk, reason=reason)
        else:
            left = payment.amount - payment.amount_refunded
            escrow_refund(
                payment_id=payment.pk,
                amount=amount or left,
                reason=reason,
                key=f"dispute-{dispute.pk}-refund-{amount or left}",
            )
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if action != "refund" and payment.status != P.DISPUTED:
            raise ConflictError(gettext("This payment is not frozen."), code="not_disputed")
        Dispute.objects.filter(pk=dispute.pk).update(
            resolution=f"{action}: {note}"[:300], resolved_by=admin
        )
        if payment.status == P.DISPUTED:  # a partial refund leaves it frozen until now
            _unfreeze(payment, f"Admin {admin.email}: {action}. {note}")
            if action != "release":
                _resume_on_commit(payment)
    if action == "release" and delivery is not None:
        escrow_release(delivery_id=delivery.pk)
    return Payment.objects.get(pk=payment.pk)
