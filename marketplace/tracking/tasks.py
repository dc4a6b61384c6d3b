"""Periodic retention of location pings (beat: "purge-old-pings"). Safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def purge_old_pings() -> int:
    from marketplace.tracking.services import pings_purge

    return pings_purge()
