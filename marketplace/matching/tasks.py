"""Celery tasks: matching after commit. Each takes ids, reloads rows and calls a service; running
one twice changes nothing more. The periodic expiry, which re-matches what expired, is
`marketplace.lifecycle.tasks`'s."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from marketplace.matching.services import offers_make_for_parcel, offers_make_for_trip


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def match_parcel(parcel_id: int) -> int:
    return len(offers_make_for_parcel(parcel_id=parcel_id))


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def match_trip(trip_id: int) -> int:
    return len(offers_make_for_trip(trip_id=trip_id))
