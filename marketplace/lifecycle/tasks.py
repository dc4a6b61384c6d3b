"""The lifecycle's Celery tasks: the periodic expiry of offers and parcels (each re-matches or
refunds what expired), the sweep that queues again the matching, releases and refunds whose
tasks were lost (docs/production.md, "Lost tasks"), and Stripe's events (declared in
stripe_webhooks.py, beside the receiver that queues them; gathered here for Celery's
autodiscovery). Task names are the wire format: moved tasks keep the names they had in
matching/tasks.py and payments/tasks.py.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from marketplace.lifecycle.assigning import batch_assign
from marketplace.lifecycle.commuting import trip_series_materialize_all
from marketplace.lifecycle.matching import offers_expire, parcels_expire
from marketplace.lifecycle.ordering import process_bulk_upload
from marketplace.lifecycle.retention import retention_purge
from marketplace.lifecycle.sandbox import sandbox_advance
from marketplace.lifecycle.stripe_webhooks import process_webhook_event, retry_webhook_events
from marketplace.matching.sweeps import matching_sweep
from marketplace.payments.sweeps import money_sweep

log = logging.getLogger(__name__)

__all__ = [
    "assign_batch",
    "expire_offers",
    "expire_parcels",
    "materialize_trip_series",
    "process_bulk_upload",
    "process_webhook_event",
    "purge_personal_data",
    "retry_webhook_events",
    "sandbox_advance",
    "sweep_lost_tasks",
]


@shared_task(name="marketplace.matching.tasks.expire_offers", acks_late=True)
def expire_offers() -> int:
    return offers_expire()


@shared_task(name="marketplace.matching.tasks.expire_parcels", acks_late=True)
def expire_parcels() -> int:
    return parcels_expire()


@shared_task(name="marketplace.lifecycle.tasks.assign_batch", acks_late=True, expires=120)
def assign_batch() -> int:
    """Every MATCHING_BATCH_SECONDS under MATCHING_POLICY = "batch" (else nothing): one batch
    assignment. Returns how many offers it made."""
    if settings.MATCHING_POLICY != "batch":
        return 0
    return batch_assign().offers


@shared_task(name="marketplace.lifecycle.tasks.materialize_trip_series", acks_late=True)
def materialize_trip_series() -> int:
    """Hourly: recurring commutes' occurrences up to RECURRING_TRIPS_HORIZON_DAYS ahead."""
    return trip_series_materialize_all()


@shared_task(
    name="marketplace.lifecycle.tasks.purge_personal_data",
    acks_late=True,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=True,
)
def purge_personal_data() -> dict[str, int]:
    """Hourly: positions, chat photos, proof photos and signatures of finished deliveries past
    their retention (RETENTION_*_DAYS) are deleted. Safe to run twice."""
    return retention_purge()


@shared_task(name="marketplace.lifecycle.tasks.sweep_lost_tasks", acks_late=True)
def sweep_lost_tasks() -> dict[str, int]:
    """Periodic (TASK_SWEEP_SECONDS): queue again the matching, releases and refunds whose task
    was lost. Each sweep runs on its own, so one failing does not hold back the other."""
    queued: dict[str, int] = {}
    try:
        found = matching_sweep()
        queued.update(parcels=len(found.parcels), trips=len(found.trips))
    except Exception:
        log.exception("matching sweep failed; the next run tries again")
    try:
        money = money_sweep()
        queued.update(
            releases=len(money.releases),
            cancel_refunds=len(money.cancel_refunds),
            return_refunds=len(money.return_refunds),
        )
    except Exception:
        log.exception("money sweep failed; the next run tries again")
    return queued
