"""Commuting: a courier posts a recurring commute once; its occurrences are made
RECURRING_TRIPS_HORIZON_DAYS ahead (on posting, then by the hourly `materialize_trip_series`
task) and each joins the matching index and is matched like any posted trip. An occurrence is
skipped by cancelling it (it stays, cancelled, so it is never made again) and edited on its own.
Stopping a series cancels its planned occurrences that carry no accepted parcel.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, NotFoundError
from marketplace.lifecycle import steps
from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.matching import services as matching
from marketplace.matching.segments import trip_segments_rebuild
from marketplace.trips import recurrence
from marketplace.trips import services as trips
from marketplace.trips.models import Trip, TripSeries, TripStatus

log = logging.getLogger(__name__)


@transaction.atomic
def trip_series_post(*, courier: User, **fields: Any) -> TripSeries:
    """Post a recurring commute (see trips.services.trip_series_create) and make its first
    occurrences."""
    series = trips.trip_series_create(courier=courier, **fields)
    trip_series_materialize(series_id=series.pk)
    return series


@transaction.atomic
def trip_series_materialize(*, series_id: int, now: datetime | None = None) -> list[Trip]:
    """Make the series' missing occurrences from today (its zone) to the horizon; each is
    indexed and matched after commit. Run again, it makes nothing twice (one per date)."""
    now = now or timezone.now()
    series = trips.trip_series_lock(series_id)
    if not series.is_active:
        return []
    zone = recurrence.zone_of(series.time_zone)
    today = now.astimezone(zone).date()
    horizon = today + timedelta(days=settings.RECURRING_TRIPS_HORIZON_DAYS)
    days = recurrence.occurrence_dates(
        series.rrule, starts_on=series.starts_on, until=series.until, start=today, end=horizon
    )
    made = set(
        series.occurrences.filter(occurrence_date__in=days).values_list(
            "occurrence_date", flat=True
        )
    )
    created: list[Trip] = []
    for day in days:
        if day in made:
            continue
        fields = trips.trip_series_occurrence_fields(series, day)
        if fields["departure_latest"] < now:
            continue  # today's, already gone
        try:
            with transaction.atomic():
                created.append(trips.trip_create(**fields))
        except ApplicationError as exc:
            # The courier's vehicle changed since the series was posted, say: skip the date,
            # say why in the log; the series' other dates are still made.
            log.warning("series %s: occurrence %s not made: %s", series.pk, day, exc.fields or exc)
    series.materialized_until = horizon
    series.save(update_fields=["materialized_until", "updated_at"])
    if created:
        trip_segments_rebuild([trip.pk for trip in created])
        for trip in created:
            steps.match_trip_on_commit(trip)
    return created


def trip_series_materialize_all(*, now: datetime | None = None) -> int:
    """Hourly: every active series' occurrences up to the horizon. One series failing does not
    hold back the others. Returns how many trips were made."""
    made = 0
    for series_id in TripSeries.objects.filter(is_active=True).values_list("pk", flat=True):
        try:
            made += len(trip_series_materialize(series_id=series_id, now=now))
        except Exception:
            log.exception("series %s: materialising failed; the next run tries again", series_id)
    return made


@transaction.atomic
def trip_series_stop(*, series: TripSeries, actor: User) -> TripSeries:
    """Stop a commute: no new occurrences; planned ones with no accepted parcel are cancelled
    (those carrying parcels stay, for the courier to drive or cancel one by one)."""
    if series.courier_id != actor.pk:
        raise NotFoundError(gettext("No such series."), code="not_found")
    series = trips.trip_series_stop(series=trips.trip_series_lock(series.pk))
    planned = series.occurrences.filter(status=TripStatus.PLANNED, reserved_parcels=0)
    for trip in planned.order_by("departure_earliest"):
        trip_cancel(trip=trip, actor=actor, reason="Series stopped")
    return series


@transaction.atomic
def trip_edit(*, trip: Trip, actor: User, **changes: Any) -> Trip:
    """Change a planned trip (an occurrence on its own, say): its index pieces are rebuilt, its
    pending offers (made for the old times or room) withdrawn and matching runs again."""
    trip = trips.trip_update(trip=trips.trip_lock(trip.pk), actor=actor, **changes)
    trip_segments_rebuild([trip.pk])
    steps.match_parcels_on_commit(matching.offers_withdraw_for_trip(trip=trip))
    steps.match_trip_on_commit(trip)
    return trip
