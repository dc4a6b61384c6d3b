"""The append-only double-entry ledger.

Accounts (debit positive): stripe_balance (money at Stripe), escrow (held for parcels),
courier_payable (owed to couriers), platform_revenue, disputes (withdrawn by a dispute),
dispute_losses. Postings:

    payment captured      stripe_balance +A        escrow -A
    delivery confirmed    escrow +A                platform_revenue -fee, courier_payable -share
    cancellation fee      escrow +fee              courier_payable -fee
    refund                escrow +R                stripe_balance -R
    transfer to courier   courier_payable +X       stripe_balance -X
    transfer reversed     stripe_balance +X        courier_payable -X
    un-earned (refund after release)  platform_revenue +fee, courier_payable +share, escrow -A
    tip captured          stripe_balance +T        courier_payable -T
    dispute opened        disputes +D              stripe_balance -D
    dispute won           stripe_balance +D        disputes -D
    dispute lost          escrow +D (or dispute_losses +D once released)    disputes -D

Every posting carries a unique `source` (the Stripe object id, or our own step's name), so a
replayed webhook or a retried task finds it posted and does nothing.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum

from marketplace.payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment

A = LedgerAccount


def post(
    *,
    kind: str,
    source: str,
    payment: Payment,
    entries: list[tuple[str, int, int | None]],
    memo: str = "",
) -> LedgerTransaction | None:
    """Post balanced entries [(account, amount, courier_id)] once. Returns None if `source` was
    already posted (a replay)."""
    lines = [(acc, amt, courier) for acc, amt, courier in entries if amt]
    if sum(amt for _, amt, _ in lines) != 0:
        raise ValueError(f"unbalanced ledger posting {kind} {source}: {lines}")
    if not lines or LedgerTransaction.objects.filter(source=source).exists():
        return None
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(
                kind=kind,
                source=source,
                parcel_id=payment.parcel_id,
                payment=payment,
                currency=payment.currency,
                memo=memo[:300],
            )
            LedgerEntry.objects.bulk_create(
                LedgerEntry(transaction=txn, account=acc, amount=amt, courier_id=courier)
                for acc, amt, courier in lines
            )
    except IntegrityError:
        if LedgerTransaction.objects.filter(source=source).exists():
            return None  # posted by a concurrent replay
        raise
    return txn


def balances(**filters: object) -> dict[str, int]:
    """Balance per account, for the whole ledger or filtered (e.g. `transaction__parcel=...`,
    `transaction__payment=...`, `courier=...`)."""
    rows = (
        LedgerEntry.objects.filter(**filters)
        .values("account")
        .annotate(total=Sum("amount"))
        .order_by("account")
    )
    return {row["account"]: row["total"] for row in rows if row["total"]}


def total(**filters: object) -> int:
    return sum(balances(**filters).values())
