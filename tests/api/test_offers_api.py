"""Offers as couriers see and answer them: areas only until accepted, exactly one winner per
parcel, and a declined or expired slot goes to the next courier in line."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.accounts.models import CourierProfile, VerificationStatus
from marketplace.core.geo import approximate
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle.matching import offer_decline
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip
from tests.api.matching_helpers import (
    CODE_KEYS,
    OFFERS,
    PARCELS,
    PRIVATE_PARCEL_KEYS,
    TRIPS,
    client_for,
    courier_with_trip,
    jwt_client_for,
    offer_of,
    pending_offer_couriers,
    snapshot,
    url,
)
from tests.api.payloads import assert_error, parcel_payload, trip_payload
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, offset, pt
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db


def offered_parcel(*couriers, **overrides) -> Parcel:
    """A parcel offered (through the matching service) to the given couriers' trips."""
    parcel = make_parcel(**overrides)
    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    offered = {o.courier_id for o in offers}
    assert {c.pk for c in couriers} <= offered, "the parcel does not fit these couriers' trips"
    return parcel


def test_a_courier_lists_only_their_own_pending_unexpired_offers_with_areas_only():
    # given: a pickup off the ~500 m grid, so the area cannot equal the exact point by chance
    courier, trip = courier_with_trip()
    other, _ = courier_with_trip()
    pickup = offset(ALEXANDERPLATZ, north_m=123, east_m=77)
    parcel = offered_parcel(courier, other, pickup_point=pt(pickup))
    expired = offered_parcel(courier)
    Offer.objects.filter(parcel=expired).update(expires_at=timezone.now() - timedelta(minutes=1))
    declined = offered_parcel(courier)
    offer_decline(offer_id=offer_of(courier=courier, parcel=declined).pk, courier=courier)
    mine = offer_of(courier=courier, parcel=parcel)

    # when
    response = client_for(courier).get(OFFERS)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    seen = body["results"][0]
    assert seen["id"] == mine.pk
    assert seen["status"] == "pending"
    assert seen["trip"] == trip.pk
    assert seen["rank"] >= 1
    assert seen["detour_m"] == mine.detour_m
    assert seen["pickup_position_m"] < seen["dropoff_position_m"]
    for name in ("predicted_pickup_at", "predicted_dropoff_at", "expires_at"):
        assert seen[name], name

    shown = seen["parcel"]
    assert shown["id"] == parcel.pk
    assert shown["courier_share"] == parcel.courier_share
    assert not PRIVATE_PARCEL_KEYS & set(shown), PRIVATE_PARCEL_KEYS & set(shown)
    area = approximate(parcel.pickup_point)
    assert shown["pickup_area"] == {"type": "Point", "coordinates": [area.x, area.y]}
    assert shown["pickup_area"]["coordinates"] != list(pickup)
    assert shown["dropoff_area"]["coordinates"] == list(approximate(parcel.dropoff_point).coords)
    text = response.content.decode()
    for secret in (
        parcel.pickup_address,
        parcel.dropoff_address,
        parcel.pickup_contact_name,
        parcel.pickup_contact_phone,
        parcel.dropoff_contact_name,
        parcel.dropoff_contact_phone,
    ):
        assert secret not in text, secret


def test_status_filter_lists_declined_offers():
    # given
    courier, _ = courier_with_trip()
    declined = offered_parcel(courier)
    offer = offer_of(courier=courier, parcel=declined)
    offer_decline(offer_id=offer.pk, courier=courier)
    offered_parcel(courier)  # still pending

    # when
    response = client_for(courier).get(OFFERS, {"status": "declined"})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert [o["id"] for o in body["results"]] == [offer.pk]
    assert body["results"][0]["status"] == "declined"
    assert body["results"][0]["responded_at"] is not None


def test_a_courier_sees_the_detail_of_their_own_offer_but_not_of_others():
    # given
    courier, _ = courier_with_trip()
    other, _ = courier_with_trip()
    parcel = offered_parcel(courier, other)

    # when
    own = client_for(courier).get(url(OFFERS, offer_of(courier=courier, parcel=parcel)))
    theirs = client_for(courier).get(url(OFFERS, offer_of(courier=other, parcel=parcel)))

    # then
    assert own.status_code == 200, own.content
    assert own.json()["parcel"]["id"] == parcel.pk
    assert_error(theirs, 404)


def test_accepting_an_offer_assigns_the_parcel_and_shows_the_exact_places():
    # given
    courier, trip = courier_with_trip()
    others = [courier_with_trip()[0] for _ in range(2)]
    parcel = offered_parcel(courier, *others)
    offer = offer_of(courier=courier, parcel=parcel)

    # when
    response = client_for(courier).post(url(OFFERS, offer, "accept"))

    # then: the courier now sees the addresses and contacts, never the codes
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "assigned"
    assert body["trip"] == trip.pk
    assert not CODE_KEYS & set(body)
    shown = body["parcel"]
    assert not CODE_KEYS & set(shown)
    assert shown["id"] == parcel.pk
    assert shown["status"] == "matched"
    assert shown["pickup_address"] == parcel.pickup_address
    assert shown["pickup_contact_name"] == parcel.pickup_contact_name
    assert shown["pickup_contact_phone"] == parcel.pickup_contact_phone
    assert shown["dropoff_address"] == parcel.dropoff_address
    assert shown["dropoff_contact_name"] == parcel.dropoff_contact_name
    assert shown["dropoff_contact_phone"] == parcel.dropoff_contact_phone
    assert shown["pickup_point"] == {"type": "Point", "coordinates": list(parcel.pickup_point)}
    delivery = Delivery.objects.get(pk=body["id"])
    assert delivery.pickup_code not in response.content.decode()
    assert delivery.delivery_code not in response.content.decode()

    # and the parcel is matched, the trip's room reserved, the other offers withdrawn
    assert delivery.courier == courier
    assert delivery.offer_id == offer.pk
    assert delivery.status == DeliveryStatus.ASSIGNED
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.MATCHED
    trip.refresh_from_db()
    assert trip.reserved_parcels == 1
    assert trip.reserved_weight_grams == parcel.weight_grams
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    assert offer.responded_at is not None
    for other in others:
        assert offer_of(courier=other, parcel=parcel).status == OfferStatus.WITHDRAWN
    assert list(delivery.events.values_list("from_status", "to_status")) == [("", "assigned")]


def test_a_second_courier_accepting_a_taken_parcel_gets_409_and_nothing_changes():
    # given
    first, _ = courier_with_trip()
    second, _ = courier_with_trip()
    parcel = offered_parcel(first, second)
    accepted = client_for(first).post(url(OFFERS, offer_of(courier=first, parcel=parcel), "accept"))
    assert accepted.status_code == 201, accepted.content
    before = snapshot()

    # when
    response = client_for(second).post(
        url(OFFERS, offer_of(courier=second, parcel=parcel), "accept")
    )

    # then
    assert_error(response, 409, code="parcel_taken")
    assert snapshot() == before


def test_accepting_an_expired_offer_is_409_and_nothing_changes():
    # given
    courier, _ = courier_with_trip()
    parcel = offered_parcel(courier)
    offer = offer_of(courier=courier, parcel=parcel)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot()

    # when
    response = client_for(courier).post(url(OFFERS, offer, "accept"))

    # then
    assert_error(response, 409, code="offer_expired")
    assert snapshot() == before


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_answering_someone_elses_offer_is_404_and_nothing_changes(action):
    # given
    courier, _ = courier_with_trip()
    owner, _ = courier_with_trip()
    parcel = offered_parcel(courier, owner)
    theirs = offer_of(courier=owner, parcel=parcel)
    before = snapshot()

    # when
    response = client_for(courier).post(url(OFFERS, theirs, action))

    # then
    assert_error(response, 404)
    assert snapshot() == before


@pytest.mark.parametrize("login", [client_for, jwt_client_for], ids=["force_authenticate", "jwt"])
def test_an_unverified_courier_cannot_accept_and_nothing_changes(login):
    # given: logged in while verified, then the admin suspends the review
    courier, _ = courier_with_trip()
    parcel = offered_parcel(courier)
    client = login(courier)
    CourierProfile.objects.filter(user=courier).update(
        verification_status=VerificationStatus.PENDING
    )
    before = snapshot()

    # when
    response = client.post(url(OFFERS, offer_of(courier=courier, parcel=parcel), "accept"))

    # then
    assert_error(response, 403, code="courier_not_verified")
    assert snapshot() == before


def test_accepting_when_the_trip_is_full_is_409_and_nothing_changes():
    # given: a trip with room for one parcel, offered two before taking either
    courier, trip = courier_with_trip(max_parcels=1)
    first = offered_parcel(courier)
    second = offered_parcel(courier)
    client = client_for(courier)
    taken = client.post(url(OFFERS, offer_of(courier=courier, parcel=first), "accept"))
    assert taken.status_code == 201, taken.content
    before = snapshot()

    # when
    response = client.post(url(OFFERS, offer_of(courier=courier, parcel=second), "accept"))

    # then
    assert_error(response, 409, code="no_capacity")
    assert snapshot() == before
    assert Trip.objects.get(pk=trip.pk).reserved_parcels == 1


def test_declining_passes_the_parcel_to_the_next_courier(
    settings, django_capture_on_commit_callbacks
):
    # given: four couriers fit, three are offered the parcel
    settings.MATCHING_OFFERS_PER_PARCEL = 3
    couriers = [courier_with_trip()[0] for _ in range(4)]
    parcel = make_parcel()
    offered = {o.courier_id for o in offers_make_for_parcel(parcel_id=parcel.pk)}
    assert len(offered) == 3
    (waiting,) = [c for c in couriers if c.pk not in offered]
    decliner = next(c for c in couriers if c.pk in offered)
    offer = offer_of(courier=decliner, parcel=parcel)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(decliner).post(url(OFFERS, offer, "decline"))

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "declined"
    offer.refresh_from_db()
    assert offer.status == OfferStatus.DECLINED
    assert offer.responded_at is not None
    assert pending_offer_couriers(parcel) == (offered - {decliner.pk}) | {waiting.pk}
    listed = client_for(waiting).get(OFFERS).json()
    assert [o["parcel"]["id"] for o in listed["results"]] == [parcel.pk]
    assert client_for(decliner).get(OFFERS).json()["count"] == 0
    assert Parcel.objects.get(pk=parcel.pk).status == ParcelStatus.OPEN


def test_declining_twice_is_409_and_nothing_changes():
    # given
    courier, _ = courier_with_trip()
    parcel = offered_parcel(courier)
    offer = offer_of(courier=courier, parcel=parcel)
    client = client_for(courier)
    assert client.post(url(OFFERS, offer, "decline")).status_code == 200
    before = snapshot()

    # when
    response = client.post(url(OFFERS, offer, "decline"))

    # then
    assert_error(response, 409, code="offer_closed")
    assert snapshot() == before


def test_accepting_a_declined_offer_is_409_and_nothing_changes():
    # given
    courier, _ = courier_with_trip()
    parcel = offered_parcel(courier)
    offer = offer_of(courier=courier, parcel=parcel)
    offer_decline(offer_id=offer.pk, courier=courier)
    before = snapshot()

    # when
    response = client_for(courier).post(url(OFFERS, offer, "accept"))

    # then
    assert_error(response, 409, code="offer_closed")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "action"),
    [("get", None), ("get", ""), ("post", "accept"), ("post", "decline")],
    ids=["list", "detail", "accept", "decline"],
)
def test_a_shipper_only_user_gets_403_and_nothing_changes(method, action):
    # given
    courier, _ = courier_with_trip()
    parcel = offered_parcel(courier)
    shipper = parcel.shipper
    offer = offer_of(courier=courier, parcel=parcel)
    path = OFFERS if action is None else url(OFFERS, offer, action)
    before = snapshot()

    # when
    response = getattr(client_for(shipper), method)(path)

    # then
    assert_error(response, 403, code="permission_denied")
    assert snapshot() == before


def test_publishing_a_parcel_through_the_api_offers_it_to_the_best_couriers(
    settings, django_capture_on_commit_callbacks
):
    # given
    settings.MATCHING_OFFERS_PER_PARCEL = 2
    couriers = [courier_with_trip()[0] for _ in range(3)]
    shipper = ShipperFactory()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(shipper).post(PARCELS, parcel_payload(), format="json")

    # then
    assert response.status_code == 201, response.content
    parcel = Parcel.objects.get(pk=response.json()["id"])
    offered = pending_offer_couriers(parcel)
    assert len(offered) == 2
    assert offered <= {c.pk for c in couriers}
    ranks = sorted(Offer.objects.filter(parcel=parcel).values_list("rank", flat=True))
    assert ranks == [1, 2]
    for courier in couriers:
        listed = client_for(courier).get(OFFERS).json()
        assert listed["count"] == (1 if courier.pk in offered else 0)


def test_posting_a_trip_through_the_api_offers_the_courier_fitting_parcels(
    django_capture_on_commit_callbacks,
):
    # given: an open parcel along the commute, and one far away
    fitting = make_parcel()
    make_parcel(
        pickup_point=pt(offset(ALEXANDERPLATZ, north_m=5_000)),
        dropoff_point=pt(offset(ALEXANDERPLATZ, north_m=9_000)),
    )
    courier = CourierFactory()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(courier).post(TRIPS, trip_payload(), format="json")

    # then
    assert response.status_code == 201, response.content
    offers = Offer.objects.filter(courier=courier)
    assert [(o.parcel_id, o.trip_id, o.status) for o in offers] == [
        (fitting.pk, response.json()["id"], OfferStatus.PENDING)
    ]
    listed = client_for(courier).get(OFFERS).json()
    assert [o["parcel"]["id"] for o in listed["results"]] == [fitting.pk]


def test_a_trip_is_not_offered_parcels_of_its_own_courier(django_capture_on_commit_callbacks):
    # given: a courier who is also a shipper posts a parcel along their own route
    courier = CourierFactory(is_shipper=True)
    make_parcel(shipper=courier)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(courier).post(TRIPS, trip_payload(), format="json")

    # then
    assert response.status_code == 201, response.content
    assert not Offer.objects.filter(courier=courier).exists()
