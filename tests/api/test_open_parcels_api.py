"""Open parcels as couriers browse them: areas, not addresses; never their own; only open ones."""

import pytest
from rest_framework.test import APIClient

from marketplace.core.geo import approximate, haversine_m
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.parcels.models import Parcel
from tests.api.payloads import assert_error
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG, offset, pt
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db

OPEN_PARCELS = "/api/v1/courier/open-parcels/"
PRIVATE_KEYS = {
    "pickup_point",
    "dropoff_point",
    "pickup_address",
    "dropoff_address",
    "pickup_contact_name",
    "pickup_contact_phone",
    "dropoff_contact_name",
    "dropoff_contact_phone",
    "declared_value",
    "photo",
    "shipper",
    "price_total",
    "platform_fee",
}


def point_of(geojson: dict):
    assert geojson["type"] == "Point"
    return pt(tuple(geojson["coordinates"]))


def test_a_courier_sees_open_parcels_without_private_details(courier_client):
    # given: a pickup off the ~500 m grid, so the area cannot equal the exact point by chance
    pickup = offset(ALEXANDERPLATZ, north_m=123, east_m=77)
    parcel = make_parcel(shipper=ShipperFactory(), pickup_point=pt(pickup))

    # when
    response = courier_client.get(OPEN_PARCELS)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    seen = body["results"][0]
    assert seen["id"] == parcel.pk
    assert seen["status"] == "open"
    assert seen["courier_share"] == parcel.courier_share
    assert not PRIVATE_KEYS & set(seen), PRIVATE_KEYS & set(seen)
    text = response.content.decode()
    for secret in (
        parcel.pickup_address,
        parcel.dropoff_address,
        parcel.pickup_contact_name,
        parcel.pickup_contact_phone,
        parcel.dropoff_contact_name,
        parcel.dropoff_contact_phone,
    ):
        assert secret not in text

    pickup_area = point_of(seen["pickup_area"])
    dropoff_area = point_of(seen["dropoff_area"])
    assert pickup_area.coords != parcel.pickup_point.coords
    assert dropoff_area.coords != parcel.dropoff_point.coords
    assert 0 < haversine_m(pickup_area, parcel.pickup_point) < 1_000
    assert 0 < haversine_m(dropoff_area, parcel.dropoff_point) < 1_000


def test_the_detail_view_hides_the_same_details(courier_client):
    # given
    parcel = make_parcel(shipper=ShipperFactory())

    # when
    response = courier_client.get(f"{OPEN_PARCELS}{parcel.pk}/")

    # then
    assert response.status_code == 200
    seen = response.json()
    assert seen["id"] == parcel.pk
    assert not PRIVATE_KEYS & set(seen)
    assert parcel.pickup_address not in response.content.decode()


@pytest.mark.parametrize(
    ("north_m", "east_m"), [(20, 20), (200, 0), (-200, 0), (0, 150), (-180, -150)]
)
def test_parcels_in_one_cell_share_an_area(courier_client, north_m, east_m):
    # given: two pickups in one ~500 m cell, one at its centre, one off it
    centre = approximate(pt(ALEXANDERPLATZ)).coords
    first = make_parcel(shipper=ShipperFactory(), pickup_point=pt(centre))
    second = make_parcel(
        shipper=ShipperFactory(),
        pickup_point=pt(offset(centre, north_m=north_m, east_m=east_m)),
    )

    # when
    results = {p["id"]: p for p in courier_client.get(OPEN_PARCELS).json()["results"]}

    # then: the courier cannot tell them apart, nor work out the exact latitude from the area
    assert results[first.pk]["pickup_area"] == results[second.pk]["pickup_area"]


def test_a_courier_never_sees_their_own_parcels(shipper):
    # given: a user with both roles
    both = CourierFactory(is_shipper=True)
    own = make_parcel(shipper=both)
    other = make_parcel(shipper=shipper)
    client = APIClient()
    client.force_authenticate(both)

    # when
    body = client.get(OPEN_PARCELS).json()

    # then
    assert [p["id"] for p in body["results"]] == [other.pk]
    assert client.get(f"{OPEN_PARCELS}{own.pk}/").status_code == 404


def test_drafts_and_cancelled_parcels_are_not_offered(courier_client, shipper):
    # given
    draft = make_parcel(shipper=shipper, publish=False)
    cancelled = make_parcel(shipper=shipper)
    parcel_cancel(parcel=cancelled, actor=shipper)
    open_ = make_parcel(shipper=shipper)

    # when
    body = courier_client.get(OPEN_PARCELS).json()

    # then
    assert [p["id"] for p in body["results"]] == [open_.pk]
    for hidden in (draft, cancelled):
        assert_error(courier_client.get(f"{OPEN_PARCELS}{hidden.pk}/"), 404)


def test_open_parcels_can_be_filtered_by_size_and_weight(courier_client, shipper):
    # given
    small = make_parcel(shipper=shipper, size_class="S", weight_grams=800)
    make_parcel(shipper=shipper, size_class="L", weight_grams=30_000)

    # when
    by_size = courier_client.get(OPEN_PARCELS, {"size_class": "S"}).json()
    by_weight = courier_client.get(OPEN_PARCELS, {"max_weight_grams": 1_000}).json()

    # then
    assert [p["id"] for p in by_size["results"]] == [small.pk]
    assert [p["id"] for p in by_weight["results"]] == [small.pk]


def test_open_parcels_are_read_only(courier_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    before = Parcel.objects.values().get(pk=parcel.pk)

    # when
    patched = courier_client.patch(f"{OPEN_PARCELS}{parcel.pk}/", {"weight_grams": 1})
    posted = courier_client.post(OPEN_PARCELS, {"description": "x"})

    # then
    assert_error(patched, 405)
    assert_error(posted, 405)
    assert Parcel.objects.values().get(pk=parcel.pk) == before
    assert Parcel.objects.count() == 1


def test_a_shipper_only_user_is_refused(shipper_client, shipper):
    # given
    make_parcel(shipper=ShipperFactory(), dropoff_point=pt(CHARLOTTENBURG))

    # when
    listed = shipper_client.get(OPEN_PARCELS)

    # then
    error = assert_error(listed, 403, code="permission_denied")
    assert "courier" in error["message"].lower()
    assert "results" not in listed.json()
