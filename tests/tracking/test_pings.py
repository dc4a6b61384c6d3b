"""Recording pings through the service: each validation reason, duplicates and impossible jumps,
the tracking window, the courier check, the live position and ETA, and the arrival notice."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.notifications.models import Notification
from marketplace.tracking.models import LivePosition, LocationPing
from marketplace.tracking.services import pings_record
from tests.factories.accounts import CourierFactory
from tests.tracking.helpers import (
    BIKE_KMH,
    DROPOFF,
    deliver,
    fail,
    minutes_ago,
    new_delivery,
    pick_up,
    ping,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery():
    return start(pick_up(new_delivery()))


def record(delivery, *pings):
    return pings_record(delivery=delivery, courier=delivery.courier, pings=list(pings))


def reasons(result) -> dict[int, str]:
    return {r["index"]: r["reason"] for r in result.rejected}


def _with(**changes):
    def make():
        p = ping(3_000, at=minutes_ago(1))
        for key, value in changes.items():
            if value is ...:
                p.pop(key)
            else:
                p[key] = value
        return p

    return make


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: "52.5,13.3", "not_an_object"),
        (lambda: [52.5, 13.3], "not_an_object"),
        (_with(lat=91), "invalid_coordinates"),
        (_with(lat=-90.5), "invalid_coordinates"),
        (_with(lon=180.01), "invalid_coordinates"),
        (_with(lat=...), "invalid_coordinates"),
        (_with(lon="13.3"), "invalid_coordinates"),
        (_with(lat=True), "invalid_coordinates"),
        (_with(lat=math.nan), "invalid_coordinates"),
        (_with(accuracy_m=...), "invalid_accuracy"),
        (_with(accuracy_m=-1), "invalid_accuracy"),
        (_with(accuracy_m="10"), "invalid_accuracy"),
        (_with(accuracy_m=200.5), "inaccurate"),
        (_with(at=...), "invalid_time"),
        (_with(at="yesterday"), "invalid_time"),
        (_with(at="2026-13-45T99:00:00Z"), "invalid_time"),
        (_with(at=1_700_000_000), "invalid_time"),
        (lambda: ping(3_000, at=minutes_ago(1).replace(tzinfo=None)), "invalid_time"),
        (lambda: ping(3_000, at=timezone.now() + timedelta(seconds=90)), "in_future"),
        (lambda: ping(3_000, at=timezone.now() - timedelta(hours=25)), "too_old"),
        (lambda: ping(3_000, at=minutes_ago(61)), "before_pickup"),
        (_with(speed_mps=-1), "invalid_speed"),
        (_with(speed_mps="fast"), "invalid_speed"),
        (_with(speed_mps=60), "invalid_speed"),  # 216 km/h
        (_with(heading_deg=361), "invalid_heading"),
        (_with(heading_deg=-5), "invalid_heading"),
    ],
)
def test_each_invalid_ping_is_refused_with_its_reason(delivery, make, reason):
    # when
    result = record(delivery, ping(2_900, at=minutes_ago(2)), make())

    # then: the good ping is kept, the bad one is reported by its index
    assert result.accepted == 1
    assert result.rejected == [{"index": 1, "reason": reason}]
    assert LocationPing.objects.filter(delivery=delivery).count() == 1


def test_a_valid_ping_is_stored_with_its_device_time_and_optional_fields(delivery):
    # given
    at = minutes_ago(3).replace(microsecond=0)

    # when
    result = record(delivery, ping(3_000, at=at, accuracy_m=8, speed_mps=4.2, heading_deg=360))

    # then
    assert (result.accepted, result.rejected) == (1, [])
    stored = LocationPing.objects.get(delivery=delivery)
    assert stored.device_time == at
    assert (stored.accuracy_m, stored.speed_mps, stored.heading_deg) == (8, 4.2, 0)
    assert stored.received_at >= at


def test_the_clock_skew_allowance_accepts_a_device_slightly_ahead(delivery):
    # when
    result = record(delivery, ping(3_000, at=timezone.now() + timedelta(seconds=20)))

    # then
    assert result.accepted == 1


def test_a_batch_sent_twice_is_stored_once(delivery):
    # given
    batch = [ping(3_000, at=minutes_ago(4)), ping(3_200, at=minutes_ago(3))]
    record(delivery, *batch)

    # when: the app did not get the answer and sends the same batch again
    result = record(delivery, *batch)

    # then
    assert result.accepted == 0
    assert reasons(result) == {0: "duplicate", 1: "duplicate"}
    assert LocationPing.objects.filter(delivery=delivery).count() == 2


def test_two_pings_with_the_same_device_time_in_one_batch_keep_the_first(delivery):
    # given
    at = minutes_ago(2)

    # when
    result = record(delivery, ping(3_000, at=at), ping(3_050, at=at))

    # then
    assert result.accepted == 1
    assert reasons(result) == {1: "duplicate"}


def test_an_impossible_jump_from_the_previous_ping_is_refused(delivery):
    # given: a ping 3 km along the route a minute ago
    record(delivery, ping(3_000, at=minutes_ago(2)))

    # when: 6 km further a minute later (360 km/h), then a plausible ping after it
    result = record(delivery, ping(9_000, at=minutes_ago(1)), ping(3_300, at=minutes_ago(0.5)))

    # then: the jump is refused and the next ping is compared with the last accepted one
    assert result.accepted == 1
    assert reasons(result) == {0: "too_fast"}
    assert LocationPing.objects.filter(delivery=delivery).count() == 2


def test_the_speed_check_allows_for_both_accuracies(delivery):
    # given: two fixes 300 m apart, 2 s apart, each accurate to 150 m (GPS jitter, not 540 km/h)
    at = minutes_ago(1)

    # when
    result = record(
        delivery,
        ping(3_000, at=at, accuracy_m=150),
        ping(3_300, at=at + timedelta(seconds=2), accuracy_m=150),
    )

    # then
    assert result.accepted == 2


def test_the_speed_check_uses_the_previous_ping_by_device_time_even_out_of_order(delivery):
    # given: the newest ping came over the socket first
    record(delivery, ping(5_000, at=minutes_ago(1)))

    # when: a batch from before it arrives late, in any order
    result = record(
        delivery,
        ping(4_000, at=minutes_ago(4)),
        ping(3_000, at=minutes_ago(8)),
        ping(9_900, at=minutes_ago(6)),  # 6.9 km in 2 minutes after the 3 km one
    )

    # then
    assert result.accepted == 2
    assert reasons(result) == {2: "too_fast"}


def test_a_late_batch_is_stored_but_does_not_move_the_live_position(delivery):
    # given
    record(delivery, ping(5_000, at=minutes_ago(1)))
    live = LivePosition.objects.get(delivery=delivery)

    # when
    result = record(delivery, ping(4_000, at=minutes_ago(5)))

    # then
    assert result.accepted == 1
    assert result.position is None
    assert LivePosition.objects.get(delivery=delivery).device_time == live.device_time
    assert LocationPing.objects.filter(delivery=delivery).count() == 2


def test_the_live_position_takes_the_newest_ping_of_a_batch(delivery):
    # when
    result = record(delivery, ping(4_000, at=minutes_ago(2)), ping(3_000, at=minutes_ago(6)))

    # then
    live = LivePosition.objects.get(delivery=delivery)
    assert result.position == live
    assert live.point.x == pytest.approx(ping(4_000)["lon"])
    assert live.device_time.timestamp() == pytest.approx(minutes_ago(2).timestamp(), abs=2)


def test_the_eta_decreases_along_the_route_and_follows_the_remaining_distance(delivery):
    # given: the courier rides east along the route, 1 km every 3 minutes
    etas, remaining = [], []
    for i, east in enumerate((3_000, 4_000, 5_000, 6_000)):
        # when
        record(delivery, ping(east, at=minutes_ago(12 - 3 * i)))
        live = LivePosition.objects.get(delivery=delivery)
        etas.append(live.eta)
        remaining.append(live.remaining_m)

        # then: metres left to the drop-off 8 km along and 500 m off the route (never less than
        # the straight line), at the trip's speed
        assert live.remaining_m == pytest.approx(
            math.hypot(DROPOFF[0] - east, DROPOFF[1]), rel=0.01
        )
        expected = live.device_time + timedelta(seconds=live.remaining_m * 3.6 / BIKE_KMH)
        assert abs((live.eta - expected).total_seconds()) <= 1

    assert etas == sorted(etas, reverse=True) and len(set(etas)) == 4
    assert remaining == sorted(remaining, reverse=True)


def test_past_the_drop_off_along_the_route_the_straight_line_still_counts(delivery):
    # when: beyond the drop-off's position along the route (which lies 500 m south of it)
    record(delivery, ping(8_300, at=minutes_ago(1)))

    # then
    assert LivePosition.objects.get(delivery=delivery).remaining_m == pytest.approx(583, abs=10)


@pytest.mark.parametrize("status", ["assigned", "delivered", "failed"])
def test_no_ping_is_recorded_outside_pickup_to_delivery(status):
    # given
    delivery = new_delivery()
    if status == "delivered":
        delivery = deliver(start(pick_up(delivery)))
    elif status == "failed":
        delivery = fail(start(pick_up(delivery)))

    # when
    with pytest.raises(ConflictError) as refused:
        record(delivery, ping(3_000, at=timezone.now()))

    # then
    assert refused.value.code == "not_tracking"
    assert not LocationPing.objects.exists()
    assert not LivePosition.objects.exists()


def test_pings_are_recorded_once_picked_up_before_transit():
    # given
    delivery = pick_up(new_delivery())

    # when
    result = record(delivery, ping(2_100, at=minutes_ago(1)))

    # then
    assert result.accepted == 1


def test_only_the_assigned_courier_records_pings(delivery):
    # given
    other = CourierFactory()

    # when
    with pytest.raises(NotAllowedError) as refused:
        pings_record(delivery=delivery, courier=other, pings=[ping(3_000)])

    # then: nothing changed
    assert refused.value.code == "not_assigned_courier"
    assert not LocationPing.objects.exists()
    assert not LivePosition.objects.exists()


def test_the_shipper_cannot_record_pings(delivery):
    with pytest.raises(NotAllowedError):
        pings_record(delivery=delivery, courier=delivery.parcel.shipper, pings=[ping(3_000)])
    assert not LocationPing.objects.exists()


@pytest.mark.parametrize("pings", [[], "not a list"])
def test_an_empty_batch_is_refused(delivery, pings):
    with pytest.raises(ApplicationError) as refused:
        pings_record(delivery=delivery, courier=delivery.courier, pings=pings)
    assert refused.value.code == "no_pings"


def test_a_batch_above_the_limit_is_refused(delivery, settings):
    # given
    settings.TRACKING_MAX_BATCH = 3

    # when
    with pytest.raises(ApplicationError) as refused:
        record(delivery, *[ping(3_000 + i, at=minutes_ago(5 - i)) for i in range(4)])

    # then
    assert refused.value.code == "too_many_pings"
    assert not LocationPing.objects.exists()


def arriving(delivery):
    return Notification.objects.filter(user=delivery.parcel.shipper, kind="courier_arriving")


def test_courier_arriving_is_sent_once_when_within_the_radius(
    delivery, django_capture_on_commit_callbacks
):
    # given: on the way, still far from the drop-off
    record(delivery, ping(6_000, at=minutes_ago(6)))
    assert not arriving(delivery).exists()

    # when: two pings inside the 150 m radius of the drop-off, then one more batch
    with django_capture_on_commit_callbacks(execute=True):
        record(delivery, ping(DROPOFF[0], DROPOFF[1] + 100, at=minutes_ago(2)))
        record(delivery, ping(DROPOFF[0], DROPOFF[1] + 40, at=minutes_ago(1)))
        record(delivery, ping(DROPOFF[0] + 20, DROPOFF[1], at=minutes_ago(0.5)))

    # then
    notice = arriving(delivery).get()
    assert notice.data["delivery_id"] == delivery.pk
    assert notice.data["parcel_id"] == delivery.parcel_id
    assert LivePosition.objects.get(delivery=delivery).arriving_notified_at is not None
    assert [m.subject for m in mail.outbox] == [notice.title]
    assert mail.outbox[0].to == [delivery.parcel.shipper.email]


def test_courier_arriving_is_not_sent_outside_the_radius(delivery, settings):
    # given
    settings.TRACKING_ARRIVING_M = 50

    # when: 100 m from the drop-off
    record(delivery, ping(DROPOFF[0], DROPOFF[1] + 100, at=minutes_ago(1)))

    # then
    assert not arriving(delivery).exists()
    assert LivePosition.objects.get(delivery=delivery).arriving_notified_at is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: ping(3_000, at=_at_offset(minutes_ago(1), -16 * 60 - 4)), "invalid_time"),
        (lambda: ping(3_000, at=_at_offset(minutes_ago(1), 15 * 60)), "invalid_time"),
        (_with(lat=10**400), "invalid_coordinates"),
        (_with(lon=-(10**400)), "invalid_coordinates"),
        (_with(accuracy_m=10**400), "invalid_accuracy"),
        (_with(speed_mps=10**400), "invalid_speed"),
        (_with(heading_deg=10**400), "invalid_heading"),
        (_with(at="9999-12-31T23:59:59+14:00"), "invalid_time"),
    ],
)
def test_hostile_pings_are_refused_not_a_500(delivery, make, reason):
    """Issue 16: offsets PostgreSQL cannot store and numbers no float holds."""
    result = record(delivery, ping(2_900, at=minutes_ago(2)), make())

    assert result.accepted == 1
    assert result.rejected == [{"index": 1, "reason": reason}]


def _at_offset(moment, minutes):
    from datetime import timezone as tz

    return moment.astimezone(tz(timedelta(minutes=minutes)))
