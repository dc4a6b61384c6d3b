"""Stripe's events: received into the inbox (payments.webhooks) and processed after commit by a
task that re-reads each event's object and moves our state forward. A paid PaymentIntent opens
its parcel (paying), so processing lives here, above payments.

The tasks are declared here, beside the receiver that queues them; their names are the wire
format and stay those they had in payments/tasks.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from marketplace.core.transactions import enqueue_on_commit_or_log
from marketplace.lifecycle import paying
from marketplace.payments import disputes, payouts, refunds, webhooks
from marketplace.payments.models import WebhookEvent
from marketplace.payments.retries import RETRY

log = logging.getLogger(__name__)


def webhook_receive(*, body: bytes, signature: str | None, endpoint: str, secret: str) -> bool:
    """Verify and store one delivery from Stripe, and process it after commit. False for a
    duplicate (acknowledged, ignored). Raises payments.webhooks.InvalidWebhookError. Once the
    event is stored, whatever its processing does (fail, retry, run eagerly inside this
    request) is recorded on the inbox row and logged, never raised here: Stripe is answered
    200 and the sweep (retry_webhook_events) processes what is left."""
    with transaction.atomic():
        stored = webhooks.webhook_event_store(
            body=body, signature=signature, endpoint=endpoint, secret=secret
        )
        if stored is not None:
            enqueue_on_commit_or_log(process_webhook_event, stored.pk)
    return stored is not None


def webhook_process(*, event_pk: int) -> None:
    """Handle one stored event by re-reading its object. Safe to run any number of times."""
    event = webhooks.webhook_event_claim(event_pk)
    if event is None:
        return
    kind, object_id = event.type, webhooks.webhook_object_id(event)
    try:
        if kind.startswith("payment_intent."):
            paying.payment_sync(payment_intent_id=object_id)
        elif kind == "charge.refunded":
            refunds.charge_refunds_sync(charge_id=object_id)
        elif kind.startswith("charge.dispute."):
            disputes.dispute_sync(dispute_id=object_id)
        elif kind == "account.updated":
            payouts.account_sync(account_id=object_id or event.account)
        elif kind.startswith("payout."):
            payouts.bank_payout_sync(payout_id=object_id, account_id=event.account)
        elif kind.startswith("transfer."):
            log.info("%s %s noted", kind, object_id)  # our transfers are recorded when made
    except Exception as exc:
        webhooks.webhook_event_failed(event, exc)
        log.warning(
            "Stripe event %s (%s) not processed yet: %r", event.event_id, kind, exc, exc_info=True
        )
        raise
    webhooks.webhook_event_done(event)


@shared_task(name="marketplace.payments.tasks.process_webhook_event", **RETRY)
def process_webhook_event(event_pk: int) -> None:
    webhook_process(event_pk=event_pk)


@shared_task(name="marketplace.payments.tasks.retry_webhook_events", acks_late=True)
def retry_webhook_events() -> int:
    """Periodic: events stored but not processed (a worker died, Stripe was unreachable)."""
    stale = WebhookEvent.objects.filter(
        processed_at__isnull=True, received_at__lte=timezone.now() - timedelta(minutes=5)
    ).values_list("pk", flat=True)[:500]
    for pk in stale:
        webhook_process(event_pk=pk)
    return len(stale)
