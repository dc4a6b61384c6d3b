"""Pings are kept TRACKING_RETENTION_DAYS after they arrive; the periodic task deletes the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.tracking.models import LivePosition, LocationPing
from marketplace.tracking.services import pings_record
from marketplace.tracking.tasks import purge_old_pings
from tests.tracking.helpers import deliver, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


def age(delivery, *, days: float) -> None:
    """Pretend the delivery's pings (and its live position) arrived `days` ago."""
    then = timezone.now() - timedelta(days=days)
    LocationPing.objects.filter(delivery=delivery).update(received_at=then)
    LivePosition.objects.filter(delivery=delivery).update(updated_at=then)


def test_the_task_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-pings"]
    assert entry["task"] == "marketplace.tracking.tasks.purge_old_pings"


def test_the_task_deletes_old_pings_only_and_is_idempotent():
    # given: an old finished delivery and one on its way now
    old = start(pick_up(new_delivery()))
    pings_record(
        delivery=old,
        courier=old.courier,
        pings=[ping(3_000, at=minutes_ago(3)), ping(3_500, at=minutes_ago(1))],
    )
    old = deliver(old)
    age(old, days=settings.TRACKING_RETENTION_DAYS + 1)
    current = start(pick_up(new_delivery()))
    pings_record(delivery=current, courier=current.courier, pings=[ping(3_000)])
    age(current, days=settings.TRACKING_RETENTION_DAYS - 1)

    # when
    deleted = purge_old_pings.delay().get()
    again = purge_old_pings.delay().get()

    # then
    assert (deleted, again) == (2, 0)
    assert not LocationPing.objects.filter(delivery=old).exists()
    assert not LivePosition.objects.filter(delivery=old).exists()
    assert LocationPing.objects.filter(delivery=current).count() == 1
    assert LivePosition.objects.filter(delivery=current).exists()


def test_the_live_position_of_a_delivery_still_on_its_way_is_kept():
    # given: a (very long) delivery still in transit, last heard of long ago
    delivery = start(pick_up(new_delivery()))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(3_000)])
    age(delivery, days=settings.TRACKING_RETENTION_DAYS + 1)

    # when
    purge_old_pings.delay()

    # then: the pings go, the live position stays while tracking lasts
    assert not LocationPing.objects.filter(delivery=delivery).exists()
    assert LivePosition.objects.filter(delivery=delivery).exists()
