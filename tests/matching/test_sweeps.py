"""The sweep of lost matching tasks (marketplace.matching.sweeps).

Under the plain `db` fixture the test's transaction never commits, so the matching tasks that
posting queues on commit never run: exactly what a worker killed mid-task leaves behind. The
sweep is then run with its on-commit work executed (eager Celery), as beat would run it.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from marketplace.lifecycle.matching import offer_decline
from marketplace.lifecycle.tasks import sweep_lost_tasks
from marketplace.matching.models import MatchAttempt, Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel, offers_make_for_trip
from marketplace.matching.sweeps import matching_sweep
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_grace(settings):
    settings.TASK_SWEEP_GRACE_SECONDS = 0


def sweep(capture):
    with capture(execute=True):
        return matching_sweep(now=timezone.now() + timedelta(seconds=1))


def pending(parcel):
    return set(
        Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING).values_list(
            "courier_id", flat=True
        )
    )


def test_a_parcel_whose_matching_task_was_lost_is_matched_by_the_sweep(
    django_capture_on_commit_callbacks,
):
    trips = [line_trip(north_m=10 * i) for i in range(3)]
    parcel = parcel_near()  # its match_parcel task never ran
    assert not Offer.objects.filter(parcel=parcel).exists()

    found = sweep(django_capture_on_commit_callbacks)

    assert parcel.pk in found.parcels
    assert pending(parcel) == {t.courier_id for t in trips}
    attempt = MatchAttempt.objects.get(parcel=parcel)
    assert attempt.offers_made == 3
    # once matched, the next sweep leaves it alone: it has live offers and no change since
    assert parcel.pk not in sweep(django_capture_on_commit_callbacks).parcels
    assert Offer.objects.filter(parcel=parcel).count() == 3


def test_a_parcel_matched_without_fits_is_not_swept_again_until_it_changes(
    django_capture_on_commit_callbacks,
):
    parcel = parcel_near()
    assert offers_make_for_parcel(parcel_id=parcel.pk) == []  # no trips: nothing fits
    assert MatchAttempt.objects.get(parcel=parcel).offers_made == 0

    assert parcel.pk not in sweep(django_capture_on_commit_callbacks).parcels

    # it changes (reopened, edited) after that attempt: its new matching may have been lost
    Parcel.objects.filter(pk=parcel.pk).update(updated_at=timezone.now())
    assert parcel.pk in sweep(django_capture_on_commit_callbacks).parcels


def test_an_offer_declined_whose_rematch_was_lost_is_swept(django_capture_on_commit_callbacks):
    first, second = line_trip(), line_trip(north_m=10)
    parcel = parcel_near()
    offers_make_for_parcel(parcel_id=parcel.pk)
    for offer in Offer.objects.filter(parcel=parcel):
        offer_decline(offer_id=offer.pk, courier=offer.courier)  # the re-match is lost
    assert pending(parcel) == set()

    found = sweep(django_capture_on_commit_callbacks)

    assert parcel.pk in found.parcels
    # both couriers declined: never asked twice, so the sweep's run records an empty attempt
    assert pending(parcel) == set()
    assert set(Offer.objects.filter(parcel=parcel).values_list("status", flat=True)) == {
        OfferStatus.DECLINED
    }
    assert {first.courier_id, second.courier_id} == set(
        Offer.objects.filter(parcel=parcel).values_list("courier_id", flat=True)
    )
    assert parcel.pk not in sweep(django_capture_on_commit_callbacks).parcels


def test_what_changed_within_the_grace_or_cannot_be_matched_is_not_swept(
    settings, django_capture_on_commit_callbacks
):
    settings.TASK_SWEEP_GRACE_SECONDS = 120
    line_trip()
    fresh = parcel_near()  # its task may still be waiting in the queue
    closed = parcel_near()
    Parcel.objects.filter(pk=closed.pk).update(
        pickup_window_start=timezone.now() - timedelta(hours=2),
        pickup_window_end=timezone.now() - timedelta(minutes=1),
        updated_at=timezone.now() - timedelta(hours=1),
    )
    draft = parcel_near(publish=False)
    Parcel.objects.filter(pk=draft.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        found = matching_sweep()

    assert found.parcels == []
    # two minutes later the fresh one counts as lost
    with django_capture_on_commit_callbacks(execute=True):
        later = matching_sweep(now=timezone.now() + timedelta(seconds=121))
    assert later.parcels == [fresh.pk]


def test_a_trip_whose_matching_task_was_lost_is_matched_by_the_sweep(
    django_capture_on_commit_callbacks,
):
    parcel = parcel_near()
    offers_make_for_parcel(parcel_id=parcel.pk)  # matched before any trip: nothing fits
    trip = line_trip()  # its match_trip task never ran
    departed = line_trip(north_m=10)
    Trip.objects.filter(pk=departed.pk).update(
        departure_earliest=timezone.now() - timedelta(hours=1), departure_latest=timezone.now()
    )
    matched = line_trip(north_m=20)
    offers_make_for_trip(trip_id=matched.pk)

    found = sweep(django_capture_on_commit_callbacks)

    assert found.trips == [trip.pk]
    assert trip.courier_id in pending(parcel)
    assert MatchAttempt.objects.filter(trip=trip).exists()
    assert sweep(django_capture_on_commit_callbacks).trips == []


def test_the_periodic_task_runs_both_sweeps_and_reports_counts(django_capture_on_commit_callbacks):
    line_trip()
    parcel_near()

    with django_capture_on_commit_callbacks(execute=True):
        queued = sweep_lost_tasks.apply().get()

    assert queued == {
        "parcels": 1,
        "trips": 1,
        "releases": 0,
        "cancel_refunds": 0,
        "return_refunds": 0,
    }
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-lost-tasks"]
    assert entry == {
        "task": "marketplace.lifecycle.tasks.sweep_lost_tasks",
        "schedule": float(django_settings.TASK_SWEEP_SECONDS),
    }
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 900
