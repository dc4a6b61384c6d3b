"""Compare the ledger with Stripe's objects, payment by payment, and record any difference."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from marketplace.payments import gateway
from marketplace.payments.models import (
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentStatus,
    ReconciliationRun,
    Tip,
    Transfer,
    TransferStatus,
)


def _ledger_sum(payment: Payment, kinds: list[str]) -> int:
    total = LedgerEntry.objects.filter(
        transaction__payment=payment,
        transaction__kind__in=kinds,
        account=LedgerAccount.STRIPE_BALANCE,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def payment_differences(payment: Payment) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if payment.stripe_charge_id:
        charge = gateway.charge_retrieve(payment.stripe_charge_id)
        stripe_net = int(charge.get("amount_captured", charge["amount"])) - int(
            charge.get("amount_refunded", 0)
        )
        ledger_net = _ledger_sum(payment, ["payment", "refund"])
        if stripe_net != ledger_net:
            found.append(
                {
                    "payment": payment.pk,
                    "what": "charge net",
                    "stripe": stripe_net,
                    "ledger": ledger_net,
                }
            )
    tips = Tip.objects.filter(delivery__parcel_id=payment.parcel_id, succeeded=True)
    for tip in tips:
        charge = gateway.charge_retrieve(tip.stripe_charge_id)
        stripe_net = int(charge.get("amount_captured", charge["amount"])) - int(
            charge.get("amount_refunded", 0)
        )
        if stripe_net != tip.amount:
            found.append(
                {
                    "tip": tip.pk,
                    "what": "tip charge net",
                    "stripe": stripe_net,
                    "ledger": tip.amount,
                }
            )
    for transfer in Transfer.objects.filter(payment=payment, stripe_transfer_id="").exclude(
        attempted_at=None
    ):
        found.append({"transfer": transfer.pk, "what": "attempted at Stripe, outcome unknown"})
    for transfer in Transfer.objects.filter(payment=payment).exclude(stripe_transfer_id=""):
        data = gateway.transfer_retrieve(transfer.stripe_transfer_id)
        stripe_net = int(data["amount"]) - int(data.get("amount_reversed", 0))
        ours = 0 if transfer.status == TransferStatus.REVERSED else transfer.amount
        if stripe_net != ours:
            found.append(
                {
                    "transfer": transfer.pk,
                    "what": "transfer net",
                    "stripe": stripe_net,
                    "ledger": ours,
                }
            )
    return found


def reconcile() -> ReconciliationRun:
    payments = Payment.objects.exclude(
        status__in=[PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.CANCELED, PaymentStatus.FAILED]
    ).exclude(funded_by_platform=True)  # no Stripe intent to compare with
    differences: list[dict[str, Any]] = []
    checked = 0
    for payment in payments.iterator():
        differences += payment_differences(payment)
        checked += 1
    return ReconciliationRun.objects.create(payments_checked=checked, differences=differences)
