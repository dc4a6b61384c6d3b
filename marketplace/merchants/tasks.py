"""Periodic upkeep of the merchants app."""

from __future__ import annotations

from celery import shared_task

from marketplace.merchants.idempotency import records_purge


@shared_task(name="marketplace.merchants.tasks.purge_idempotency_records", acks_late=True)
def purge_idempotency_records() -> int:
    """Idempotency keys are kept MERCHANT_IDEMPOTENCY_HOURS (beat: hourly)."""
    return records_purge()
