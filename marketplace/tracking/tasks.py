"""Periodic tracking work, each safe to run twice: retention of location pings (beat:
"purge-old-pings") and merchants' courier position webhooks ("publish-courier-positions")."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from marketplace.tracking.publishing import courier_positions_publish
from marketplace.tracking.services import pings_purge


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def purge_old_pings() -> int:
    return pings_purge()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def publish_courier_positions() -> int:
    return courier_positions_publish()
