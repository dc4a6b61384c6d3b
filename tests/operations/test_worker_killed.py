"""A Celery worker killed with `kill -9` in the middle of a burst of 200 matching tasks on the
Redis broker (issue 17): the tasks it held stay in Redis's `unacked` set (the broker would hand
them out only after its visibility timeout, 900 s), and the sweep of lost tasks, run by a real
beat, has every parcel matched within its interval, none offered twice.

Two real workers (prefork, two processes each) and beat run in subprocesses on the test
database. To be sure the killed worker holds tasks when it dies, the test locks the first
parcels' rows: all four pool processes wait on those locks, then one worker is killed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.db.models import Count

from marketplace.matching.models import MatchAttempt, Offer, OfferStatus
from marketplace.parcels.models import Parcel
from tests.factories.matching import line_trip, parcel_near
from tests.operations.celery_processes import (
    celery_beat,
    celery_worker,
    queued,
    redis_broker,
    unacked_task_args,
)
from tests.operations.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

BROKER_URL = "redis://127.0.0.1:6379/12"
PARCELS = 200
TRIPS = 4  # every parcel fits every trip: each gets MATCHING_OFFERS_PER_PARCEL (3) offers
LOCKED = 8
SWEEP_SECONDS = 5
SWEEP_ENV = {"TASK_SWEEP_SECONDS": str(SWEEP_SECONDS), "TASK_SWEEP_GRACE_SECONDS": "1"}
MATCH_PARCEL = "marketplace.matching.tasks.match_parcel"
log = logging.getLogger(__name__)


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def parcels_posted_with_their_matching_undone() -> list[int]:
    """Trips and open parcels, committed, as if no matching task had run yet: what posting's
    tasks did (eagerly, in this process) is deleted."""
    ids = [parcel_near().pk for _ in range(PARCELS)]
    for i in range(TRIPS):
        line_trip(north_m=10 * i)
    Offer.objects.all().delete()
    MatchAttempt.objects.all().delete()
    return ids


@pytest.mark.parametrize("kill", ["whole worker", "main process only"])
def test_parcels_held_by_a_killed_worker_are_matched_by_the_sweep(kill: str) -> None:
    broker = redis_broker(BROKER_URL)
    broker.flushdb()
    parcel_ids = parcels_posted_with_their_matching_undone()
    sender = Celery(broker=BROKER_URL, set_as_current=False)
    per_parcel = settings.MATCHING_OFFERS_PER_PARCEL

    with (
        celery_worker("victim", broker_url=BROKER_URL, extra_env=SWEEP_ENV) as victim,
        celery_worker("survivor", broker_url=BROKER_URL, extra_env=SWEEP_ENV),
    ):
        # given every pool process busy on a locked parcel, the rest of the burst queued
        locker = psycopg.connect(conninfo_of_test_database())
        locker.execute(
            f"SELECT id FROM {Parcel._meta.db_table} WHERE id = ANY(%s) FOR UPDATE",
            [parcel_ids[:LOCKED]],
        )
        for parcel_id in parcel_ids:
            sender.send_task(MATCH_PARCEL, args=[parcel_id])
        wait_until(lambda: lock_waiters() >= 4, 30, "four pool processes waiting on the locks")

        # when one worker is killed with SIGKILL and the locks go
        if kill == "whole worker":
            victim.kill_whole_worker()
        else:
            victim.kill_main_process()
        locker.rollback()
        locker.close()

        # then the survivor runs the rest of the burst, and the victim's tasks stay unacked
        wait_until(lambda: queued(broker) == 0, 60, "the survivor drained the queue")
        lost = wait_for_the_victims_tasks(broker, set(parcel_ids))
        assert lost, "the killed worker held no task: the fault did not happen"
        assert {name for name, _ in lost} == {MATCH_PARCEL}
        lost_parcels = {int(args[0]) for _, args in lost}  # type: ignore[call-overload]
        if kill == "whole worker":  # (an orphaned pool process may still finish its task)
            assert not Offer.objects.filter(parcel_id__in=lost_parcels).exists()

        # and once beat runs the sweep, every parcel is matched within its interval
        with celery_beat(broker_url=BROKER_URL, extra_env=SWEEP_ENV):
            recovered_in = wait_until(
                lambda: (
                    Offer.objects.filter(status=OfferStatus.PENDING).count() >= PARCELS * per_parcel
                ),
                SWEEP_SECONDS * 2 + 10,
                "every parcel has its offers",
            )
    log.warning(
        "[%s] %d tasks lost; all matched %.1f s after beat started", kill, len(lost), recovered_in
    )
    assert recovered_in < SWEEP_SECONDS * 2 + 5
    per = dict(Offer.objects.values_list("parcel_id").annotate(n=Count("id")))
    assert per == dict.fromkeys(parcel_ids, per_parcel), "a parcel lacks offers or has extra ones"
    twice = Offer.objects.values("parcel_id", "courier_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not twice.exists()
    assert MatchAttempt.objects.filter(parcel_id__in=parcel_ids).count() == PARCELS
    # the broker still holds them back (until its visibility timeout): the sweep recovered them
    assert unacked_task_args(broker) == lost
    broker.flushdb()


def wait_for_the_victims_tasks(broker: Any, parcel_ids: set[int]) -> list[Any]:
    """The unacked messages once every other parcel is matched and they stay as they are: the
    survivor's own in-flight tasks leave the set as they finish; the dead worker's stay."""
    previous: list[Any] | None = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        unacked = unacked_task_args(broker)
        held = {int(args[0]) for _, args in unacked}
        attempted = set(MatchAttempt.objects.values_list("parcel_id", flat=True))
        if attempted | held == parcel_ids and unacked == previous:
            return unacked
        previous = unacked
        time.sleep(1.0)
    raise AssertionError("the survivor did not finish the burst within 60 s")


def conninfo_of_test_database() -> str:
    db = connection.settings_dict
    parts = {
        "dbname": db["NAME"],
        "user": db.get("USER") or "",
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
    }
    if db.get("PASSWORD"):
        parts["password"] = db["PASSWORD"]
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)
