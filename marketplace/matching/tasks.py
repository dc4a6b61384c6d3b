"""Celery tasks: matching after commit, and the periodic expiry of offers and parcels.

Each takes ids, reloads rows and calls a service; running one twice changes nothing more.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def match_parcel(parcel_id: int) -> int:
    from marketplace.matching.services import offers_make_for_parcel

    return len(offers_make_for_parcel(parcel_id=parcel_id))


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def match_trip(trip_id: int) -> int:
    from marketplace.matching.services import offers_make_for_trip

    return len(offers_make_for_trip(trip_id=trip_id))


@shared_task(acks_late=True)
def expire_offers() -> int:
    from marketplace.matching.services import offers_expire

    return offers_expire()


@shared_task(acks_late=True)
def expire_parcels() -> int:
    from marketplace.matching.services import parcels_expire

    return parcels_expire()
