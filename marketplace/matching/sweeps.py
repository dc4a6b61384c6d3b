"""The sweep that makes lost matching tasks harmless.

Matching runs in a Celery task queued after commit. A worker killed mid-task (or a broker that
loses the message) leaves a parcel open with no offers, or a new trip never matched; the Redis
broker would only hand the message out again after its visibility timeout. Every
TASK_SWEEP_SECONDS this sweep finds what matching missed and queues it again:

- an open parcel, its pickup window still open, with no live offer, that changed (opened,
  reopened, an offer declined, expired or withdrawn) after matching last ran to the end for it
  (`MatchAttempt`), or that was never matched;
- a planned or active trip, its departure still ahead, never matched since it was posted.

Only what changed more than TASK_SWEEP_GRACE_SECONDS ago counts, so a task still waiting in
the queue is rarely queued twice; when it is, matching is idempotent (the parcel's lock, one
offer per courier and parcel), so the second run changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from marketplace.core.transactions import enqueue_on_commit
from marketplace.matching import tasks
from marketplace.matching.engine import MATCHABLE_TRIP_STATUSES
from marketplace.matching.models import Offer, OfferStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    parcels: list[int]
    trips: list[int]


def parcels_due_for_matching(*, now: datetime, changed_before: datetime, limit: int) -> list[int]:
    """Open parcels whose matching was lost, the closest to their pickup deadline first."""
    live_offer = Offer.objects.filter(
        parcel=OuterRef("pk"), status=OfferStatus.PENDING, expires_at__gt=now
    )
    offer_changed_since_attempt = Offer.objects.filter(
        parcel=OuterRef("pk"),
        updated_at__gt=OuterRef("match_attempt__attempted_at"),
        updated_at__lte=changed_before,
    )
    qs = (
        Parcel.objects.filter(
            status=ParcelStatus.OPEN, pickup_window_end__gt=now, updated_at__lte=changed_before
        )
        .exclude(Exists(live_offer))
        .filter(
            Q(match_attempt__isnull=True)
            | Q(match_attempt__attempted_at__lt=F("updated_at"))
            | Exists(offer_changed_since_attempt)
        )
        .order_by("pickup_window_end", "pk")
    )
    return list(qs.values_list("pk", flat=True)[:limit])


def trips_due_for_matching(*, now: datetime, changed_before: datetime, limit: int) -> list[int]:
    """Trips posted (before the grace) and never matched, the soonest to leave first."""
    qs = Trip.objects.filter(
        status__in=MATCHABLE_TRIP_STATUSES,
        departure_latest__gt=now,
        created_at__lte=changed_before,
        match_attempt__isnull=True,
    ).order_by("departure_latest", "pk")
    return list(qs.values_list("pk", flat=True)[:limit])


def matching_sweep(*, now: datetime | None = None) -> SweepResult:
    """Queue matching again for what lost it (see the module's docstring)."""
    now = now or timezone.now()
    changed_before = now - timedelta(seconds=settings.TASK_SWEEP_GRACE_SECONDS)
    limit = settings.TASK_SWEEP_BATCH
    result = SweepResult(
        parcels=parcels_due_for_matching(now=now, changed_before=changed_before, limit=limit),
        trips=trips_due_for_matching(now=now, changed_before=changed_before, limit=limit),
    )
    for parcel_id in result.parcels:
        enqueue_on_commit(tasks.match_parcel, parcel_id)
    for trip_id in result.trips:
        enqueue_on_commit(tasks.match_trip, trip_id)
    if result.parcels or result.trips:
        log.warning(
            "matching sweep: queued %d parcels and %d trips whose matching was lost",
            len(result.parcels),
            len(result.trips),
        )
    return result
