"""Payment tasks: Stripe calls after commit, webhook processing, periodic sweeps. Each takes ids,
re-reads state and is safe to run twice (deterministic idempotency keys, unique ledger sources).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from marketplace.payments.gateway import StripeError

log = logging.getLogger(__name__)
RETRY = {
    "acks_late": True,
    "autoretry_for": (StripeError, OperationalError, ConnectionError),
    "max_retries": 5,
    "retry_backoff": True,
}


@shared_task(**RETRY)
def release_delivery(delivery_id: int) -> None:
    from marketplace.payments.services import escrow_release

    escrow_release(delivery_id=delivery_id)


@shared_task(**RETRY)
def send_transfer(transfer_id: int) -> None:
    from marketplace.payments.services import transfer_send

    transfer_send(transfer_id=transfer_id)


@shared_task(**RETRY)
def refund_cancelled_parcel(parcel_id: int) -> None:
    from marketplace.payments.services import escrow_refund_cancelled

    escrow_refund_cancelled(parcel_id=parcel_id)


@shared_task(**RETRY)
def refund_returned_parcel(parcel_id: int) -> None:
    """The parcel came back: refund what the returns policy gives (see escrow_refund_returned)."""
    from marketplace.payments.services import escrow_refund_returned

    escrow_refund_returned(parcel_id=parcel_id)


@shared_task(**RETRY)
def process_webhook_event(event_pk: int) -> None:
    from marketplace.payments.webhooks import webhook_process

    webhook_process(event_pk=event_pk)


@shared_task(acks_late=True)
def send_due_transfers() -> int:
    """Periodic: transfers whose hold ended (or whose courier can now be paid)."""
    from django.utils import timezone

    from marketplace.payments.models import Transfer, TransferStatus
    from marketplace.payments.services import transfer_send

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


@shared_task(acks_late=True)
def retry_webhook_events() -> int:
    """Periodic: events stored but not processed (a worker died, Stripe was unreachable)."""
    from datetime import timedelta

    from django.utils import timezone

    from marketplace.payments.models import WebhookEvent
    from marketplace.payments.webhooks import webhook_process

    stale = WebhookEvent.objects.filter(
        processed_at__isnull=True, received_at__lte=timezone.now() - timedelta(minutes=5)
    ).values_list("pk", flat=True)[:500]
    for pk in stale:
        webhook_process(event_pk=pk)
    return len(stale)


@shared_task(acks_late=True)
def reconcile_ledger() -> int:
    from marketplace.payments.reconciliation import reconcile

    return len(reconcile().differences)
