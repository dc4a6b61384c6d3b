"""Transfers to couriers' connected accounts: queued once by key, sent when due (hold over,
payouts enabled, money not frozen) with the transfer's fixed idempotency key, booked in the
ledger, and reversed when a released payment is given back.

Lock order, as everywhere: parcel, then trip, then payment and transfer rows.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.core.transactions import enqueue_on_commit
from marketplace.payments import gateway, ledger
from marketplace.payments.gateway import StripeError
from marketplace.payments.models import (
    ConnectedAccount,
    LedgerAccount,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
)
from marketplace.payments.retries import RETRY

log = logging.getLogger(__name__)
P = PaymentStatus
A = LedgerAccount


def transfer_queue(
    *, payment: Payment, delivery: Any, kind: str, amount: int, key: str
) -> Transfer:
    """Queue a transfer to the courier once (by its key) and send it after commit."""
    transfer, created = Transfer.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "payment": payment,
            "delivery": delivery,
            "courier_id": delivery.courier_id,
            "kind": kind,
            "amount": amount,
            "currency": payment.currency,
            "not_before": timezone.now() + timedelta(days=settings.PAYOUT_HOLD_DAYS),
        },
    )
    if created:
        enqueue_on_commit(send_transfer, transfer.pk)
    return transfer


def transfer_send(*, transfer_id: int) -> Transfer:
    """Send a waiting transfer if it is due, the courier can be paid and the money is not
    frozen. The Stripe call carries the transfer's fixed idempotency key, so a retry after a
    timeout returns the same transfer instead of paying twice. The first attempt is committed
    before the call: an attempted transfer is always replayed (even once the money is frozen),
    because Stripe may have made it and only the answer was lost."""
    transfer = Transfer.objects.select_related("payment").get(pk=transfer_id)
    account = ConnectedAccount.objects.filter(courier_id=transfer.courier_id).first()
    if transfer.status != TransferStatus.WAITING or account is None:
        return transfer
    if transfer.attempted_at is None:
        if (
            transfer.not_before > timezone.now()
            or not account.payouts_enabled
            or transfer.payment.status == P.DISPUTED
        ):
            return transfer
        Transfer.objects.filter(pk=transfer.pk, attempted_at__isnull=True).update(
            attempted_at=timezone.now()
        )
    result = gateway.transfer_create(
        amount=transfer.amount,
        currency=transfer.currency,
        destination=account.stripe_account_id,
        # A return the platform funds has no charge: the transfer comes from the balance.
        source_transaction=transfer.payment.stripe_charge_id or None,
        transfer_group=f"delivery-{transfer.delivery_id}",
        metadata={"delivery_id": str(transfer.delivery_id), "kind": transfer.kind},
        key=transfer.idempotency_key,
    )
    return _transfer_paid(transfer.pk, result["id"])


@transaction.atomic
def _transfer_paid(transfer_id: int, stripe_transfer_id: str) -> Transfer:
    transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
    if transfer.status != TransferStatus.WAITING:
        return transfer
    transfer.status = TransferStatus.PAID
    transfer.stripe_transfer_id = stripe_transfer_id
    transfer.save()
    ledger.post(
        kind="transfer",
        source=f"transfer:{stripe_transfer_id}",
        payment=transfer.payment,
        entries=[
            (A.COURIER_PAYABLE, transfer.amount, transfer.courier_id),
            (A.STRIPE_BALANCE, -transfer.amount, None),
        ],
        memo=f"{transfer.kind} to courier {transfer.courier_id}",
    )
    return transfer


def transfer_reverse(transfer_id: int) -> Transfer:
    transfer = Transfer.objects.get(pk=transfer_id)
    if transfer.status == TransferStatus.WAITING:
        # An earlier send may have reached Stripe with its answer lost: replaying it (same
        # idempotency key) returns that transfer, which is then reversed, not forgotten.
        transfer = transfer_send(transfer_id=transfer.pk)
    if transfer.status == TransferStatus.REVERSED:
        return transfer
    if transfer.status == TransferStatus.WAITING:
        Transfer.objects.filter(pk=transfer.pk, status=TransferStatus.WAITING).update(
            status=TransferStatus.REVERSED
        )
        return Transfer.objects.get(pk=transfer.pk)
    reversal = gateway.transfer_reversal_create(
        transfer_id=transfer.stripe_transfer_id,
        amount=transfer.amount,
        key=f"transfer-{transfer.pk}-reversal",
    )
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        ledger.post(
            kind="reversal",
            source=f"reversal:{reversal['id']}",
            payment=transfer.payment,
            entries=[
                (A.STRIPE_BALANCE, transfer.amount, None),
                (A.COURIER_PAYABLE, -transfer.amount, transfer.courier_id),
            ],
            memo=f"Transfer {transfer.stripe_transfer_id} reversed",
        )
        transfer.status = TransferStatus.REVERSED
        transfer.amount_reversed = transfer.amount
        transfer.save()
    return transfer


# --- tasks ---------------------------------------------------------------------------------------
# Declared beside the service they run: the money steps of this app queue them (a release, a
# cancellation fee, a tip, payouts enabled, a dispute won), so payments/tasks.py, which
# collects them for Celery, cannot also be imported by those steps. Names are the wire format
# and stay those of payments/tasks.py.
@shared_task(name="marketplace.payments.tasks.send_transfer", **RETRY)
def send_transfer(transfer_id: int) -> None:
    transfer_send(transfer_id=transfer_id)


@shared_task(name="marketplace.payments.tasks.send_due_transfers", acks_late=True)
def send_due_transfers() -> int:
    """Periodic: transfers whose hold ended (or whose courier can now be paid)."""
    sent = 0
    for pk in Transfer.objects.filter(
        status=TransferStatus.WAITING, not_before__lte=timezone.now()
    ).values_list("pk", flat=True):
        try:
            if transfer_send(transfer_id=pk).status == TransferStatus.PAID:
                sent += 1
        except StripeError as exc:  # the next sweep retries with the same idempotency key
            log.warning("transfer %s not sent yet: %s", pk, exc)
    return sent
