"""Tracking over REST: the courier's batch of pings with device times, the position for the
parties of a delivery, and the shipper's public link."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from marketplace.tracking.models import LivePosition, LocationPing, TrackingLink
from marketplace.tracking.services import pings_record
from tests.api.matching_helpers import client_for
from tests.api.payloads import assert_error
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.tracking.helpers import deliver, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


def pings_url(delivery) -> str:
    return f"/api/v1/courier/deliveries/{delivery.pk}/pings/"


def position_url(delivery) -> str:
    return f"/api/v1/deliveries/{delivery.pk}/position/"


def link_url(delivery) -> str:
    return f"/api/v1/deliveries/{delivery.pk}/tracking-link/"


@pytest.fixture
def delivery():
    return start(pick_up(new_delivery()))


def test_the_courier_sends_a_batch_after_losing_signal(delivery):
    # given: three pings taken while offline, one of them from a bad fix
    batch = [
        ping(3_000, at=minutes_ago(9)),
        ping(3_600, at=minutes_ago(6), accuracy_m=900),
        ping(4_200, at=minutes_ago(3), speed_mps=4.5, heading_deg=90),
    ]

    # when
    response = client_for(delivery.courier).post(pings_url(delivery), {"pings": batch})

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "rejected": [{"index": 1, "reason": "inaccurate"}]}
    stored = LocationPing.objects.filter(delivery=delivery).order_by("device_time")
    assert [p.device_time.isoformat() for p in stored] == [batch[0]["at"], batch[2]["at"]]
    live = LivePosition.objects.get(delivery=delivery)
    assert live.device_time.isoformat() == batch[2]["at"]


def test_a_batch_reports_rejections_by_index_even_for_items_that_are_not_objects(delivery):
    # when
    response = client_for(delivery.courier).post(
        pings_url(delivery), {"pings": [42, ping(3_000, at=minutes_ago(1)), {"lat": 1}]}
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "accepted": 1,
        "rejected": [
            {"index": 0, "reason": "not_an_object"},
            {"index": 2, "reason": "invalid_coordinates"},
        ],
    }


@pytest.mark.parametrize("body", [{}, {"pings": []}, {"pings": "x"}, {"pings": {"lat": 1}}])
def test_a_malformed_batch_is_a_400(delivery, body):
    response = client_for(delivery.courier).post(pings_url(delivery), body)
    assert_error(response, 400, code="invalid")
    assert not LocationPing.objects.exists()


def test_a_batch_above_the_limit_is_a_400(delivery, settings):
    settings.TRACKING_MAX_BATCH = 2
    batch = [ping(3_000 + i, at=minutes_ago(5 - i)) for i in range(3)]
    response = client_for(delivery.courier).post(pings_url(delivery), {"pings": batch})
    error = assert_error(response, 400, code="invalid")
    assert "pings" in error["fields"]
    assert not LocationPing.objects.exists()


@pytest.mark.parametrize("stage", ["assigned", "delivered"])
def test_no_pings_before_pickup_or_after_delivery(stage):
    # given
    delivery = new_delivery()
    if stage == "delivered":
        delivery = deliver(start(pick_up(delivery)))

    # when
    response = client_for(delivery.courier).post(
        pings_url(delivery), {"pings": [ping(3_000, at=minutes_ago(1))]}
    )

    # then
    assert_error(response, 409, code="not_tracking")
    assert not LocationPing.objects.exists()


def test_another_courier_gets_a_404_and_changes_nothing(delivery):
    response = client_for(CourierFactory()).post(
        pings_url(delivery), {"pings": [ping(3_000, at=minutes_ago(1))]}
    )
    assert_error(response, 404)
    assert not LocationPing.objects.exists()


def test_the_shipper_gets_a_403_and_changes_nothing(delivery):
    response = client_for(delivery.parcel.shipper).post(
        pings_url(delivery), {"pings": [ping(3_000, at=minutes_ago(1))]}
    )
    assert_error(response, 403)
    assert not LocationPing.objects.exists()


def test_pings_need_a_login(delivery):
    response = APIClient().post(pings_url(delivery), {"pings": [ping(3_000)]}, format="json")
    assert_error(response, 401)
    assert not LocationPing.objects.exists()


# --- the position -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["shipper", "courier", "staff"])
def test_the_parties_and_staff_see_the_position_while_tracking(delivery, who):
    # given
    sent = ping(4_000, at=minutes_ago(1), accuracy_m=12)
    pings_record(delivery=delivery, courier=delivery.courier, pings=[sent])
    user = {
        "shipper": delivery.parcel.shipper,
        "courier": delivery.courier,
        "staff": UserFactory(is_staff=True),
    }[who]

    # when
    response = client_for(user).get(position_url(delivery))

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["delivery_id"] == delivery.pk
    assert (body["status"], body["tracking"]) == ("in_transit", True)
    position = body["position"]
    assert position["lat"] == pytest.approx(sent["lat"], abs=1e-6)
    assert position["lon"] == pytest.approx(sent["lon"], abs=1e-6)
    assert position["accuracy_m"] == 12
    assert position["eta"] and position["remaining_m"] > 0


def test_a_stranger_gets_a_404_for_the_position(delivery):
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(4_000)])
    for stranger in (ShipperFactory(), CourierFactory()):
        assert_error(client_for(stranger).get(position_url(delivery)), 404)


def test_no_position_before_pickup():
    delivery = new_delivery()
    response = client_for(delivery.parcel.shipper).get(position_url(delivery))
    assert response.status_code == 200
    assert response.json() == {
        "delivery_id": delivery.pk,
        "status": "assigned",
        "tracking": False,
        "position": None,
    }


def test_no_position_after_delivery(delivery):
    # given: a position while in transit, then the hand-over
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(7_900)])
    delivered = deliver(delivery)

    # when
    body = client_for(delivered.parcel.shipper).get(position_url(delivered)).json()

    # then
    assert (body["status"], body["tracking"], body["position"]) == ("delivered", False, None)


# --- the public link ----------------------------------------------------------------------


def test_the_shipper_gets_one_public_link(delivery):
    # when
    first = client_for(delivery.parcel.shipper).get(link_url(delivery))
    again = client_for(delivery.parcel.shipper).get(link_url(delivery))

    # then
    assert first.status_code == 200, first.content
    body = first.json()
    assert again.json() == body
    token = TrackingLink.objects.get(delivery=delivery).token
    assert body == {"url": f"http://testserver/t/{token}/", "token": token}
    assert len(token) >= 32


def link_tokens():
    """The links given out so far (the recipient's is made when the courier is assigned)."""
    return set(TrackingLink.objects.values_list("token", flat=True))


def test_the_courier_may_not_take_the_public_link(delivery):
    before = link_tokens()
    assert_error(client_for(delivery.courier).get(link_url(delivery)), 403, code="not_owner")
    assert link_tokens() == before


def test_a_stranger_gets_a_404_for_the_public_link(delivery):
    before = link_tokens()
    assert_error(client_for(ShipperFactory()).get(link_url(delivery)), 404)
    assert link_tokens() == before
