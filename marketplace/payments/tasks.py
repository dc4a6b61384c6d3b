"""Payments' Celery tasks, gathered here for Celery's autodiscovery.

Each is declared beside the service it runs (escrow, refunds, transfers), because the money
steps of this app queue each other: a release queues a transfer, a dispute won releases. The
webhook tasks, whose events reach other apps (a paid parcel opens), are
`marketplace.lifecycle.stripe_webhooks`'s. Every task takes ids, re-reads state and is safe to
run twice (deterministic idempotency keys, unique ledger sources).
"""

from __future__ import annotations

from celery import shared_task

from marketplace.payments.escrow import release_delivery
from marketplace.payments.reconciliation import reconcile
from marketplace.payments.refunds import refund_cancelled_parcel, refund_returned_parcel
from marketplace.payments.transfers import send_due_transfers, send_transfer

__all__ = [
    "reconcile_ledger",
    "refund_cancelled_parcel",
    "refund_returned_parcel",
    "release_delivery",
    "send_due_transfers",
    "send_transfer",
]


@shared_task(acks_late=True)
def reconcile_ledger() -> int:
    return len(reconcile().differences)
