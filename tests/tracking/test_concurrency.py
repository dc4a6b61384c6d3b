"""Pings racing each other and the hand-over, in real threads against the real database."""

from __future__ import annotations

import pytest

from marketplace.core.exceptions import ConflictError
from marketplace.notifications.models import Notification
from marketplace.tracking.models import LocationPing
from marketplace.tracking.services import pings_record
from tests.concurrency import race
from tests.tracking.helpers import (
    DROPOFF,
    deliver,
    fresh,
    minutes_ago,
    new_delivery,
    pick_up,
    ping,
    start,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_pings_inside_the_radius_at_once_send_courier_arriving_once():
    # given
    delivery = start(pick_up(new_delivery()))
    batches = [
        [ping(DROPOFF[0] + 10 * i, DROPOFF[1] + 30, at=minutes_ago(1 + i / 10))] for i in range(8)
    ]

    # when: eight pings near the drop-off arrive at the same instant (socket and REST)
    results, errors = race(
        [
            lambda b=b: pings_record(delivery=delivery, courier=delivery.courier, pings=b)
            for b in batches
        ]
    )

    # then
    assert not errors, errors
    assert sum(r.accepted for r in results) == 8
    notices = Notification.objects.filter(kind="courier_arriving")
    assert notices.count() == 1
    assert notices.get().user_id == delivery.parcel.shipper_id


def test_the_same_batch_sent_twice_at_once_is_stored_once():
    # given
    delivery = start(pick_up(new_delivery()))
    batch = [ping(3_000 + 100 * i, at=minutes_ago(10 - i)) for i in range(5)]

    # when
    results, errors = race(
        [lambda: pings_record(delivery=delivery, courier=delivery.courier, pings=batch)] * 2
    )

    # then
    assert not errors, errors
    assert sorted(r.accepted for r in results) == [0, 5]
    assert LocationPing.objects.filter(delivery=delivery).count() == 5


def test_a_ping_racing_the_hand_over_is_stored_only_if_it_came_first():
    # given
    delivery = start(pick_up(new_delivery()))

    # when
    _, errors = race(
        [
            lambda: pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(7_900)]),
            lambda: deliver(delivery),
        ]
    )

    # then: either the ping came before the hand-over, or it was refused after it
    assert fresh(delivery).status == "delivered"
    stored = LocationPing.objects.filter(delivery=delivery).count()
    if errors:
        assert [type(e) for e in errors] == [ConflictError]
        assert errors[0].code == "not_tracking"
        assert stored == 0
    else:
        assert stored == 1
