"""The lifecycle's Celery tasks: the periodic expiry of offers and parcels (each re-matches or
refunds what expired), and Stripe's events (declared in stripe_webhooks.py, beside the receiver
that queues them; gathered here for Celery's autodiscovery). Task names are the wire format:
moved tasks keep the names they had in matching/tasks.py and payments/tasks.py.
"""

from __future__ import annotations

from celery import shared_task

from marketplace.lifecycle.matching import offers_expire, parcels_expire
from marketplace.lifecycle.stripe_webhooks import process_webhook_event, retry_webhook_events

__all__ = ["expire_offers", "expire_parcels", "process_webhook_event", "retry_webhook_events"]


@shared_task(name="marketplace.matching.tasks.expire_offers", acks_late=True)
def expire_offers() -> int:
    return offers_expire()


@shared_task(name="marketplace.matching.tasks.expire_parcels", acks_late=True)
def expire_parcels() -> int:
    return parcels_expire()
