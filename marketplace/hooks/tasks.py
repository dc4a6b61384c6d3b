"""Celery tasks of outbound webhooks (acks late: a lost send is found again by the sweep)."""

from __future__ import annotations

from celery import shared_task

from marketplace.hooks import selectors, sending


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int, force: bool = False) -> str:
    return sending.deliver(delivery_id, force=force)


@shared_task(acks_late=True)
def retry_due_deliveries() -> int:
    """Every minute: send the pending deliveries whose next attempt is due."""
    due = selectors.deliveries_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
