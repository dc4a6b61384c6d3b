"""Deliveries through the API: the courier's steps (codes, proof, failures, hand-back, cancel),
the trip's stops, the shipper's view and cancellation, ratings, and trips that carry parcels."""

import pytest
from django.core.files.storage import default_storage

from marketplace.accounts.models import CourierProfile
from marketplace.deliveries.models import Delivery, DeliveryStatus, Rating
from marketplace.lifecycle.cancelling import delivery_cancel_by_courier, parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import ParcelStatus
from marketplace.trips.models import TripStatus
from tests.api.matching_helpers import (
    CODE_KEYS,
    DELIVERIES,
    OFFERS,
    PARCELS,
    TRIPS,
    Assigned,
    assigned_delivery,
    client_for,
    courier_with_trip,
    delivered,
    failed,
    in_transit,
    pending_offer_couriers,
    picked_up,
    png,
    snapshot,
    url,
    wrong,
)
from tests.api.payloads import assert_error
from tests.factories.accounts import ShipperFactory
from tests.factories.geo import CHARLOTTENBURG, POTSDAMER_PLATZ, pt
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db


def step(a: Assigned, action: str, data: dict | None = None, **kwargs):
    """The assigned courier takes a step on the delivery."""
    return client_for(a.courier).post(url(DELIVERIES, a.delivery, action), data or {}, **kwargs)


def assert_courier_view(response, status: str) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == status
    assert not CODE_KEYS & set(body)
    assert not CODE_KEYS & set(body["parcel"])
    return body


def parcel_events(a: Assigned) -> list[tuple[str, str]]:
    return list(a.parcel.events.values_list("from_status", "to_status"))


# --- the courier's steps ----------------------------------------------------------------------


def test_a_delivery_goes_from_pickup_to_hand_over_through_the_api(settings):
    # given: the shipper reads the codes from their own view, as they would hand them over
    a = assigned_delivery()
    codes = client_for(a.shipper).get(url(PARCELS, a.parcel, "delivery")).json()

    # when: pickup with the shipper's code
    response = step(a, "pickup", {"code": codes["pickup_code"]})

    # then
    body = assert_courier_view(response, "picked_up")
    assert body["picked_up_at"] is not None
    assert body["parcel"]["status"] == "picked_up"
    assert a.refresh().parcel.status == ParcelStatus.PICKED_UP
    assert a.trip.reserved_parcels == 1

    # when: on the way
    response = step(a, "start")

    # then
    assert assert_courier_view(response, "in_transit")["parcel"]["status"] == "in_transit"
    assert a.refresh().parcel.status == ParcelStatus.IN_TRANSIT

    # when: handed over with the recipient's code, a photo and a signature (multipart)
    response = step(
        a,
        "deliver",
        {
            "code": codes["delivery_code"],
            "photo": png("door.png"),
            "signature": png("signature.png", "white"),
        },
        format="multipart",
    )

    # then: delivered, the proof stored, the trip's room given back
    body = assert_courier_view(response, "delivered")
    assert body["delivered_at"] is not None
    a.refresh()
    assert a.parcel.status == ParcelStatus.DELIVERED
    assert a.delivery.proof_photo.name.startswith("proofs/")
    assert a.delivery.signature_image.name.startswith("signatures/")
    for stored in (a.delivery.proof_photo, a.delivery.signature_image):
        assert default_storage.exists(stored.name), stored.name
        assert stored.path.startswith(str(settings.MEDIA_ROOT))
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)

    # and the events list every step, for the courier and the shipper
    events = client_for(a.courier).get(url(DELIVERIES, a.delivery, "events"))
    assert events.status_code == 200, events.content
    assert [(e["from_status"], e["to_status"]) for e in events.json()] == [
        ("", "assigned"),
        ("assigned", "picked_up"),
        ("picked_up", "in_transit"),
        ("in_transit", "delivered"),
    ]
    assert parcel_events(a) == [
        ("", "draft"),
        ("draft", "open"),
        ("open", "matched"),
        ("matched", "picked_up"),
        ("picked_up", "in_transit"),
        ("in_transit", "delivered"),
    ]


def test_a_courier_lists_and_views_only_their_own_deliveries():
    # given
    mine = assigned_delivery()
    theirs = assigned_delivery()

    # when
    listed = client_for(mine.courier).get(DELIVERIES)
    detail = client_for(mine.courier).get(url(DELIVERIES, mine.delivery))

    # then
    assert listed.status_code == 200, listed.content
    assert [d["id"] for d in listed.json()["results"]] == [mine.delivery.pk]
    assert theirs.delivery.pk not in {d["id"] for d in listed.json()["results"]}
    body = assert_courier_view(detail, "assigned")
    assert body["parcel"]["pickup_address"] == mine.parcel.pickup_address
    assert body["parcel"]["dropoff_contact_phone"] == mine.parcel.dropoff_contact_phone


def test_a_wrong_pickup_code_is_400_with_the_attempts_left_and_is_counted(settings):
    # given
    settings.DELIVERY_CODE_MAX_ATTEMPTS = 5
    a = assigned_delivery()
    events_before = parcel_events(a)

    # when
    first = step(a, "pickup", {"code": wrong(a.pickup_code)})
    second = step(a, "pickup", {"code": wrong(a.pickup_code)})

    # then
    assert assert_error(first, 400, code="wrong_code")["details"] == {"attempts_left": 4}
    assert assert_error(second, 400, code="wrong_code")["details"] == {"attempts_left": 3}
    a.refresh()
    assert a.delivery.status == DeliveryStatus.ASSIGNED
    assert a.delivery.pickup_code_attempts == 2
    assert a.delivery.picked_up_at is None
    assert a.parcel.status == ParcelStatus.MATCHED
    assert a.delivery.events.count() == 1
    assert parcel_events(a) == events_before


@pytest.mark.parametrize(
    ("kind", "action", "given"), [("pickup", "pickup", None), ("delivery", "deliver", in_transit)]
)
def test_too_many_wrong_codes_lock_the_step_until_the_shipper_reissues_the_code(
    settings, kind, action, given
):
    # given
    settings.DELIVERY_CODE_MAX_ATTEMPTS = 3
    a = assigned_delivery()
    if given:
        given(a)
    status = a.delivery.status
    right = getattr(a, f"{kind}_code")
    for left in (2, 1, 0):
        response = step(a, action, {"code": wrong(right)})
        assert assert_error(response, 400, code="wrong_code")["details"] == {"attempts_left": left}

    # when: even the right code is refused now
    locked = step(a, action, {"code": right})

    # then
    assert_error(locked, 429, code="too_many_attempts")
    a.refresh()
    assert a.delivery.status == status
    assert getattr(a.delivery, f"{kind}_code_attempts") == 3

    # when: the shipper issues a new code
    reissued = client_for(a.shipper).post(
        url(PARCELS, a.parcel, "reissue-code"), {"kind": kind}, format="json"
    )

    # then: the attempts are reset and the new code works
    assert reissued.status_code == 200, reissued.content
    new_code = reissued.json()[f"{kind}_code"]
    a.refresh()
    assert getattr(a.delivery, f"{kind}_code") == new_code
    assert getattr(a.delivery, f"{kind}_code_attempts") == 0
    done = step(a, action, {"code": new_code})
    assert_courier_view(done, "picked_up" if kind == "pickup" else "delivered")


@pytest.mark.parametrize("given", [picked_up, in_transit], ids=["picked_up", "in_transit"])
def test_a_failed_attempt_records_the_reason(given):
    # given
    a = given(assigned_delivery())

    # when
    response = step(a, "fail", {"reason": "Nobody answered the door"})

    # then
    body = assert_courier_view(response, "failed")
    assert body["failure_reason"] == "Nobody answered the door"
    assert body["failed_attempts"] == 1
    a.refresh()
    assert a.delivery.status == DeliveryStatus.FAILED
    assert a.parcel.status == ParcelStatus.DELIVERY_FAILED
    assert a.trip.reserved_parcels == 1  # the courier still carries it


def test_failing_without_a_reason_is_400_and_nothing_changes():
    # given
    a = in_transit(assigned_delivery())
    before = snapshot()

    # when
    response = step(a, "fail", {"reason": ""})

    # then
    error = assert_error(response, 400, code="invalid")
    assert "reason" in error["fields"]
    assert snapshot() == before


def test_starting_again_after_a_failed_attempt_reschedules_the_delivery():
    # given
    a = failed(assigned_delivery())

    # when
    response = step(a, "start")

    # then
    body = assert_courier_view(response, "in_transit")
    assert body["failed_attempts"] == 1
    a.refresh()
    assert a.parcel.status == ParcelStatus.IN_TRANSIT
    assert a.delivery.events.last().note == "Rescheduled after a failed attempt"

    # and the delivery can still be completed
    done = step(a, "deliver", {"code": a.delivery_code})
    assert_courier_view(done, "delivered")


def test_handing_back_after_a_failed_attempt_reopens_the_parcel_for_other_couriers(
    django_capture_on_commit_callbacks,
):
    # given: another courier fits too; their offer was withdrawn when this one accepted
    other, _ = courier_with_trip()
    a = failed(assigned_delivery())
    assert Offer.objects.get(parcel=a.parcel, courier=other).status == OfferStatus.WITHDRAWN

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = step(a, "hand-back")

    # then
    assert_courier_view(response, "reassigned")
    a.refresh()
    assert a.delivery.status == DeliveryStatus.REASSIGNED
    assert a.parcel.status == ParcelStatus.OPEN
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)
    assert pending_offer_couriers(a.parcel) == {other.pk}
    assert Offer.objects.get(pk=a.delivery.offer_id).status == OfferStatus.CANCELLED


def test_a_courier_cancelling_before_pickup_reopens_the_parcel_and_costs_reliability(
    settings, django_capture_on_commit_callbacks
):
    # given
    settings.COURIER_CANCEL_PENALTY = 10
    others = [courier_with_trip()[0] for _ in range(2)]
    a = assigned_delivery()
    CourierProfile.objects.filter(user=a.courier).update(reliability_score=95)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = step(a, "cancel", {"reason": "Flat tyre"})

    # then
    body = assert_courier_view(response, "cancelled")
    assert body["cancelled_by"] == "courier"
    a.refresh()
    assert a.parcel.status == ParcelStatus.OPEN
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)
    assert CourierProfile.objects.get(user=a.courier).reliability_score == 85
    assert "Flat tyre" in a.delivery.events.last().note

    # and the parcel is offered again to the others, never again to this courier
    assert pending_offer_couriers(a.parcel) == {c.pk for c in others}
    assert Offer.objects.get(pk=a.delivery.offer_id).status == OfferStatus.CANCELLED
    offers_make_for_parcel(parcel_id=a.parcel.pk)
    assert not Offer.objects.filter(
        parcel=a.parcel, courier=a.courier, status=OfferStatus.PENDING
    ).exists()
    assert client_for(a.courier).get(OFFERS).json()["count"] == 0


def test_the_reliability_score_does_not_go_below_zero(settings):
    # given
    settings.COURIER_CANCEL_PENALTY = 10
    a = assigned_delivery()
    CourierProfile.objects.filter(user=a.courier).update(reliability_score=4)

    # when
    response = step(a, "cancel")

    # then
    assert_courier_view(response, "cancelled")
    assert CourierProfile.objects.get(user=a.courier).reliability_score == 0


@pytest.mark.parametrize("given", [picked_up, in_transit, failed])
def test_a_courier_cannot_cancel_after_pickup(given):
    # given
    a = given(assigned_delivery())
    before = snapshot()

    # when
    response = step(a, "cancel", {"reason": "Changed my mind"})

    # then
    assert_error(response, 409, code="already_picked_up")
    assert snapshot() == before


def _cancelled(a: Assigned) -> Assigned:
    delivery_cancel_by_courier(delivery=a.delivery, actor=a.courier)
    return a.refresh()


STATES = {
    "assigned": lambda a: a,
    "picked_up": picked_up,
    "in_transit": in_transit,
    "failed": failed,
    "delivered": delivered,
    "cancelled": _cancelled,
}
REFUSED = [
    ("assigned", "start"),
    ("assigned", "deliver"),
    ("assigned", "fail"),
    ("assigned", "hand-back"),
    ("picked_up", "pickup"),
    ("picked_up", "deliver"),
    ("picked_up", "hand-back"),
    ("in_transit", "pickup"),
    ("in_transit", "start"),
    ("in_transit", "hand-back"),
    ("failed", "pickup"),
    ("failed", "deliver"),
    ("failed", "fail"),
    ("delivered", "pickup"),
    ("delivered", "start"),
    ("delivered", "deliver"),
    ("delivered", "fail"),
    ("delivered", "hand-back"),
    ("delivered", "cancel"),
    ("cancelled", "pickup"),
    ("cancelled", "start"),
    ("cancelled", "cancel"),
]


def body_for(a: Assigned, action: str) -> dict:
    """A valid body for the action, with the right codes: only the status should refuse it."""
    return {
        "pickup": {"code": a.pickup_code},
        "deliver": {"code": a.delivery_code},
        "fail": {"reason": "Nobody at home"},
    }.get(action, {})


@pytest.mark.parametrize(("state", "action"), REFUSED, ids=[f"{s}-{x}" for s, x in REFUSED])
def test_a_refused_step_is_409_and_nothing_changes(state, action):
    # given
    a = STATES[state](assigned_delivery())
    before = snapshot()

    # when
    response = step(a, action, body_for(a, action))

    # then
    error = assert_error(response, 409, code="transition_not_allowed")
    assert error["details"]["from"] == state
    assert snapshot() == before
    assert Delivery.objects.get(pk=a.delivery.pk).status == state


ACTIONS = [
    ("get", ""),
    ("get", "events"),
    ("post", "pickup"),
    ("post", "start"),
    ("post", "deliver"),
    ("post", "fail"),
    ("post", "hand-back"),
    ("post", "cancel"),
    ("post", "rate"),
]


@pytest.mark.parametrize(("method", "action"), ACTIONS, ids=[a or "detail" for _, a in ACTIONS])
@pytest.mark.parametrize("given", [picked_up, delivered], ids=["picked_up", "delivered"])
def test_another_courier_gets_404_on_the_delivery_and_nothing_changes(method, action, given):
    # given
    a = given(assigned_delivery())
    intruder, _ = courier_with_trip()
    data = {**body_for(a, action), "stars": 1} if method == "post" else None
    before = snapshot()

    # when
    response = getattr(client_for(intruder), method)(url(DELIVERIES, a.delivery, action), data)

    # then
    assert_error(response, 404)
    assert snapshot() == before


def test_a_shipper_only_user_cannot_use_the_courier_delivery_api():
    # given
    a = assigned_delivery()
    before = snapshot()

    # when
    listed = client_for(a.shipper).get(DELIVERIES)
    pickup = client_for(a.shipper).post(
        url(DELIVERIES, a.delivery, "pickup"), {"code": a.pickup_code}
    )

    # then
    assert_error(listed, 403, code="permission_denied")
    assert_error(pickup, 403, code="permission_denied")
    assert snapshot() == before


# --- the trip's stops ------------------------------------------------------------------------

MIDWAY = (
    (POTSDAMER_PLATZ[0] + CHARLOTTENBURG[0]) / 2,
    (POTSDAMER_PLATZ[1] + CHARLOTTENBURG[1]) / 2,
)


def test_the_trip_stops_come_in_route_order_with_addresses():
    # given: one parcel across the whole route, one inside it; the first is picked up
    courier, trip = courier_with_trip()
    long = assigned_delivery(trip=trip)
    short = assigned_delivery(
        trip=trip,
        pickup_point=pt(POTSDAMER_PLATZ),
        pickup_address="Potsdamer Platz 1, 10785 Berlin",
        pickup_contact_name="Clara Sender",
        dropoff_point=pt(MIDWAY),
        dropoff_address="Tiergarten 3, 10557 Berlin",
        dropoff_contact_name="Dora Receiver",
    )
    picked_up(long)

    # when
    response = client_for(courier).get(url(TRIPS, trip, "stops"))

    # then
    assert response.status_code == 200, response.content
    stops = response.json()
    assert [(s["parcel_id"], s["kind"]) for s in stops] == [
        (long.parcel.pk, "pickup"),
        (short.parcel.pk, "pickup"),
        (short.parcel.pk, "dropoff"),
        (long.parcel.pk, "dropoff"),
    ]
    positions = [s["position_m"] for s in stops]
    assert positions == sorted(positions)
    assert [s["done"] for s in stops] == [True, False, False, False]
    assert [s["address"] for s in stops] == [
        long.parcel.pickup_address,
        "Potsdamer Platz 1, 10785 Berlin",
        "Tiergarten 3, 10557 Berlin",
        long.parcel.dropoff_address,
    ]
    assert [s["contact_name"] for s in stops] == [
        long.parcel.pickup_contact_name,
        "Clara Sender",
        "Dora Receiver",
        long.parcel.dropoff_contact_name,
    ]
    assert all(s["contact_phone"] and s["predicted_at"] for s in stops)
    assert stops[0]["delivery_id"] == long.delivery.pk


def test_another_couriers_trip_stops_are_404():
    # given
    a = assigned_delivery()
    intruder, _ = courier_with_trip()

    # when
    response = client_for(intruder).get(url(TRIPS, a.trip, "stops"))

    # then
    assert_error(response, 404)


# --- the shipper's side ------------------------------------------------------------------------


def test_the_shipper_sees_the_courier_the_codes_and_the_estimates():
    # given
    a = assigned_delivery()

    # when
    response = client_for(a.shipper).get(url(PARCELS, a.parcel, "delivery"))

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == a.delivery.pk
    assert body["status"] == "assigned"
    assert body["courier_name"] == a.courier.get_short_name()
    assert body["vehicle_type"] == "bike"
    assert body["pickup_code"] == a.pickup_code
    assert body["delivery_code"] == a.delivery_code
    assert len(body["pickup_code"]) == 6 and body["pickup_code"].isdigit()
    assert body["predicted_pickup_at"] < body["predicted_dropoff_at"]
    assert body["co2_saved_grams"] > 0
    assert body["cancellation_fee"] == 0


def test_before_a_courier_is_assigned_the_delivery_is_404():
    # given
    shipper = ShipperFactory()
    parcel = make_parcel(shipper=shipper)

    # when
    response = client_for(shipper).get(url(PARCELS, parcel, "delivery"))

    # then
    assert_error(response, 404, code="no_delivery")


def test_another_shipper_cannot_see_or_change_the_delivery():
    # given
    a = assigned_delivery()
    stranger = client_for(ShipperFactory())
    before = snapshot()

    # when
    seen = stranger.get(url(PARCELS, a.parcel, "delivery"))
    reissued = stranger.post(url(PARCELS, a.parcel, "reissue-code"), {"kind": "pickup"})
    cancelled = stranger.post(url(PARCELS, a.parcel, "cancel"), {})

    # then
    for response in (seen, reissued, cancelled):
        assert_error(response, 404)
        assert a.pickup_code not in response.content.decode()
    assert snapshot() == before


def test_reissuing_a_code_needs_a_valid_kind_and_an_open_delivery():
    # given
    open_one = assigned_delivery()
    done = delivered(assigned_delivery())
    before = snapshot()

    # when
    bad_kind = client_for(open_one.shipper).post(
        url(PARCELS, open_one.parcel, "reissue-code"), {"kind": "both"}
    )
    closed = client_for(done.shipper).post(
        url(PARCELS, done.parcel, "reissue-code"), {"kind": "delivery"}
    )

    # then
    assert "kind" in assert_error(bad_kind, 400, code="invalid")["fields"]
    assert_error(closed, 409, code="delivery_closed")
    assert snapshot() == before


def test_the_shipper_cancels_a_matched_parcel_free_while_the_trip_is_planned():
    # given
    a = assigned_delivery()
    score = CourierProfile.objects.get(user=a.courier).reliability_score

    # when
    response = client_for(a.shipper).post(url(PARCELS, a.parcel, "cancel"), {"reason": "Sold"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    a.refresh()
    assert a.parcel.status == ParcelStatus.CANCELLED
    assert a.delivery.status == DeliveryStatus.CANCELLED
    assert a.delivery.cancelled_by == "shipper"
    assert a.delivery.cancellation_fee == 0
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)
    assert CourierProfile.objects.get(user=a.courier).reliability_score == score
    shown = client_for(a.shipper).get(url(PARCELS, a.parcel, "delivery")).json()
    assert (shown["status"], shown["cancelled_by"], shown["cancellation_fee"]) == (
        "cancelled",
        "shipper",
        0,
    )


@pytest.mark.parametrize("fee", [300, 10_000_000], ids=["fee", "capped-at-price"])
def test_the_shipper_pays_the_cancellation_fee_once_the_courier_is_on_the_way(settings, fee):
    # given: the courier started the trip
    settings.CANCELLATION_FEE = fee
    a = assigned_delivery()
    started = client_for(a.courier).post(url(TRIPS, a.trip, "start"))
    assert started.status_code == 200, started.content

    # when
    response = client_for(a.shipper).post(url(PARCELS, a.parcel, "cancel"), {})

    # then
    assert response.status_code == 200, response.content
    a.refresh()
    expected = min(fee, a.parcel.price_total)
    assert a.delivery.cancellation_fee == expected
    assert a.parcel.status == ParcelStatus.CANCELLED
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)
    shown = client_for(a.shipper).get(url(PARCELS, a.parcel, "delivery")).json()
    assert shown["cancellation_fee"] == expected
    assert shown["cancelled_by"] == "shipper"
    assert shown["status"] == "cancelled"


@pytest.mark.parametrize("given", [picked_up, in_transit, failed])
def test_the_shipper_cannot_cancel_after_pickup(given):
    # given
    a = given(assigned_delivery())
    before = snapshot()

    # when
    response = client_for(a.shipper).post(url(PARCELS, a.parcel, "cancel"), {})

    # then
    assert_error(response, 409, code="already_picked_up")
    assert snapshot() == before


# --- ratings -----------------------------------------------------------------------------------


def rate_as_shipper(a: Assigned, stars: int, comment: str = ""):
    return client_for(a.shipper).post(
        url(PARCELS, a.parcel, "rate"), {"stars": stars, "comment": comment}
    )


def rate_as_courier(a: Assigned, stars: int, comment: str = ""):
    return step(a, "rate", {"stars": stars, "comment": comment})


def test_after_delivery_shipper_and_courier_rate_each_other_once():
    # given
    a = delivered(assigned_delivery())

    # when
    by_shipper = rate_as_shipper(a, 5, "Quick and friendly")
    by_courier = rate_as_courier(a, 4)

    # then
    assert by_shipper.status_code == 201, by_shipper.content
    assert by_courier.status_code == 201, by_courier.content
    assert by_shipper.json()["stars"] == 5
    assert by_shipper.json()["comment"] == "Quick and friendly"
    ratings = {
        (r.rater_id, r.ratee_id, r.stars) for r in Rating.objects.filter(delivery=a.delivery)
    }
    assert ratings == {(a.shipper.pk, a.courier.pk, 5), (a.courier.pk, a.shipper.pk, 4)}

    # when: each rates again
    before = snapshot()
    again_shipper = rate_as_shipper(a, 1)
    again_courier = rate_as_courier(a, 1)

    # then
    assert_error(again_shipper, 409, code="already_rated")
    assert_error(again_courier, 409, code="already_rated")
    assert snapshot() == before


@pytest.mark.parametrize("rate", [rate_as_shipper, rate_as_courier])
def test_rating_before_delivery_is_409_and_nothing_changes(rate):
    # given
    a = in_transit(assigned_delivery())
    before = snapshot()

    # when
    response = rate(a, 5)

    # then
    assert_error(response, 409, code="not_delivered")
    assert snapshot() == before


@pytest.mark.parametrize("stars", [0, 6])
@pytest.mark.parametrize("rate", [rate_as_shipper, rate_as_courier])
def test_stars_outside_one_to_five_are_400(rate, stars):
    # given
    a = delivered(assigned_delivery())
    before = snapshot()

    # when
    response = rate(a, stars)

    # then
    assert "stars" in assert_error(response, 400, code="invalid")["fields"]
    assert snapshot() == before


def test_a_third_party_cannot_rate_and_nothing_changes():
    # given
    a = delivered(assigned_delivery())
    other_courier, _ = courier_with_trip()
    before = snapshot()

    # when
    by_other_shipper = client_for(ShipperFactory()).post(
        url(PARCELS, a.parcel, "rate"), {"stars": 1}
    )
    by_other_courier = client_for(other_courier).post(
        url(DELIVERIES, a.delivery, "rate"), {"stars": 1}
    )
    by_courier_on_shipper_side = client_for(a.courier).post(
        url(PARCELS, a.parcel, "rate"), {"stars": 1}
    )

    # then
    assert_error(by_other_shipper, 404)
    assert_error(by_other_courier, 404)
    assert_error(by_courier_on_shipper_side, 403, code="permission_denied")
    assert snapshot() == before


# --- trips that carry parcels ------------------------------------------------------------------


def test_cancelling_a_trip_sends_its_assigned_parcels_back_to_matching(
    django_capture_on_commit_callbacks,
):
    # given
    other, _ = courier_with_trip()
    a = assigned_delivery()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(a.courier).post(url(TRIPS, a.trip, "cancel"), {"reason": "Ill"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    a.refresh()
    assert a.trip.status == TripStatus.CANCELLED
    assert a.delivery.status == DeliveryStatus.CANCELLED
    assert a.delivery.cancelled_by == "courier"
    assert a.parcel.status == ParcelStatus.OPEN
    assert (a.trip.reserved_parcels, a.trip.reserved_weight_grams) == (0, 0)
    assert pending_offer_couriers(a.parcel) == {other.pk}


@pytest.mark.parametrize("given", [picked_up, in_transit, failed])
def test_a_trip_carrying_a_parcel_cannot_be_cancelled(given):
    # given
    a = given(assigned_delivery())
    before = snapshot()

    # when
    response = client_for(a.courier).post(url(TRIPS, a.trip, "cancel"), {})

    # then
    assert_error(response, 409, code="carrying_parcels")
    assert snapshot() == before


@pytest.mark.parametrize("given", [lambda a: a, picked_up, in_transit, failed])
def test_a_trip_with_open_deliveries_cannot_be_completed(given):
    # given
    a = given(assigned_delivery())
    trip_start(trip=a.trip, actor=a.courier)
    before = snapshot()

    # when
    response = client_for(a.courier).post(url(TRIPS, a.trip, "complete"))

    # then
    assert_error(response, 409, code="deliveries_open")
    assert snapshot() == before


def test_a_trip_completes_once_its_parcels_are_delivered():
    # given
    a = assigned_delivery()
    trip_start(trip=a.trip, actor=a.courier)
    delivered(a)

    # when
    response = client_for(a.courier).post(url(TRIPS, a.trip, "complete"))

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"


def test_a_cancelled_parcel_is_no_longer_offered():
    # given: an open parcel offered to a courier, then cancelled by its shipper
    courier, _ = courier_with_trip()
    parcel = make_parcel()
    offers_make_for_parcel(parcel_id=parcel.pk)
    parcel_cancel(parcel=parcel, actor=parcel.shipper)

    # when
    response = client_for(courier).get(OFFERS)

    # then
    assert response.json()["count"] == 0
    assert Offer.objects.get(parcel=parcel).status == OfferStatus.WITHDRAWN
