"""Bad input never answers 500 (issue 16): deep JSON, huge numbers, far-future times and odd
offsets, non-numeric ids in paths, bodies over the upload limit. Each is a 4xx with the usual
error body and stores nothing."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from marketplace.matching.models import Offer
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.api.payloads import parcel_payload
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _error(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def _post_raw(client, path, text):
    return client.post(path, data=text, content_type="application/json")


def _counts():
    return (Parcel.objects.count(), Trip.objects.count(), Offer.objects.count())


# --- deep JSON ------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
@pytest.mark.parametrize(
    ("who", "path", "template"),
    [
        ("anyone", "/api/v1/auth/token/", '{"email": "a@b.c", "password": %s}'),
        ("shipper", "/api/v1/quotes/", '{"pickup_point": %s}'),
        ("shipper", "/api/v1/parcels/", '{"description": "x", "pickup_point": %s}'),
        ("courier", "/api/v1/trips/", '{"route": {"type": "LineString", "coordinates": %s}}'),
    ],
)
def test_json_nested_too_deep_is_a_400_and_stores_nothing(
    who, path, template, depth, api_client, shipper, courier
):
    if who != "anyone":
        api_client.force_authenticate(shipper if who == "shipper" else courier)
    before = _counts()

    response = _post_raw(api_client, path, template % _nested(depth))

    error = _error(response, 400, "parse_error")
    assert "nested deeper than" in error["message"]
    assert _counts() == before


def test_json_within_the_bound_still_parses(shipper_client):
    """The bound is far above any document we accept: a normal quote is unaffected."""
    payload = parcel_payload()
    quote = {k: payload[k] for k in ("pickup_point", "dropoff_point", "size_class")}
    quote |= {"weight_grams": 1000, "delivery_window_end": payload["delivery_window_end"]}
    assert shipper_client.post("/api/v1/quotes/", quote, format="json").status_code == 200


# --- huge numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["1" + "0" * 400, "1e400", "-" + "9" * 500, "1" + "0" * 5000])
def test_huge_coordinates_are_a_400(number, shipper_client, courier_client):
    before = _counts()
    point = f'{{"type": "Point", "coordinates": [{number}, 52.5]}}'

    quote = _post_raw(shipper_client, "/api/v1/quotes/", f'{{"pickup_point": {point}}}')
    parcel = _post_raw(shipper_client, "/api/v1/parcels/", f'{{"pickup_point": {point}}}')
    route = (
        f'{{"route": {{"type": "LineString", "coordinates": [[13.4, 52.5], [{number}, 52.6]]}}}}'
    )
    trip = _post_raw(courier_client, "/api/v1/trips/", route)

    for response in (quote, parcel, trip):
        assert response.status_code == 400, response.content[:300]
        assert "error" in response.json()
    assert _counts() == before


# --- far-future times and odd offsets ----------------------------------------------------------
def _trip_body(**times):
    start = timezone.now() + timedelta(hours=1)
    body = {
        "route": {"type": "LineString", "coordinates": [[13.40, 52.52], [13.45, 52.53]]},
        "departure_earliest": start.isoformat(),
    }
    return body | times


@pytest.mark.parametrize("field", ["departure_earliest", "departure_latest", "arrival_latest"])
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-16:04",
        "2030-01-01T10:00:00-16:04",
        "2030-01-01T10:00:00+14:30",
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
    ],
)
def test_trip_times_out_of_range_are_a_400_naming_the_field(field, value, courier_client):
    before = _counts()

    response = courier_client.post("/api/v1/trips/", _trip_body(**{field: value}), format="json")

    error = _error(response, 400, "invalid")
    assert field in error["fields"]
    assert _counts() == before


@pytest.mark.parametrize("offset", ["-12:00", "+14:00", "+05:45", "-09:30"])
def test_any_real_offset_is_accepted(offset, courier_client):
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    local = start.astimezone(timezone.get_fixed_timezone(_minutes(offset)))
    value = local.isoformat()

    response = courier_client.post(
        "/api/v1/trips/", _trip_body(departure_earliest=value), format="json"
    )

    assert response.status_code == 201, response.json()


def _minutes(offset: str) -> int:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = offset[1:].split(":")
    return sign * (int(hours) * 60 + int(minutes))


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59Z", "2030-06-01T12:00:00-16:04"])
def test_parcel_windows_out_of_range_are_a_400(value, shipper_client):
    payload = parcel_payload() | {"delivery_window_end": value}

    response = shipper_client.post("/api/v1/parcels/", payload, format="json")

    assert "delivery_window_end" in _error(response, 400, "invalid")["fields"]
    assert not Parcel.objects.exists()


def test_a_far_future_window_on_the_web_form_is_a_form_error(client: Client):
    shipper = ShipperFactory()
    client.force_login(shipper)

    response = client.post(
        "/parcels/new/",
        {
            "description": "Books",
            "size_class": "S",
            "weight_grams": 1000,
            "pickup_window_start": "9999-12-31T10:00",
            "pickup_window_end": "9999-12-31T12:00",
        },
    )

    assert response.status_code == 200
    assert "Times must lie between" in response.content.decode()
    assert not Parcel.objects.exists()


# --- non-numeric ids in paths -------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["abc", "1e2", "null", "false", "true", "null,null", "__main__"])
@pytest.mark.parametrize("action", ["accept", "decline"])
def test_a_non_numeric_offer_id_is_a_404(bad, action, courier_client):
    response = courier_client.post(f"/api/v1/courier/offers/{bad}/{action}/")

    _error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/parcels/abc/",
        "/api/v1/parcels/1e2/cancel/",
        "/api/v1/parcels/99999999999999999999/",
        "/api/v1/trips/null/",
        "/api/v1/courier/deliveries/true/pickup/",
        "/api/v1/returns/__main__/approve/",
        "/api/v1/parcels/123456789012345678/",
    ],
)
def test_bad_or_unknown_ids_anywhere_are_a_404(path, shipper_client, courier_client):
    _error(shipper_client.get(path), 404, "not_found")
    assert shipper_client.post(path).status_code in (404, 405)
    # a courier may not see shippers' parcels at all: refused, never a 500
    assert courier_client.get(path).status_code in (403, 404)


@pytest.mark.parametrize(
    "query",
    [
        "?trip=abc",
        "?trip=null",
        "?trip=null,null",
        "?status=__main__",
        "?page=abc",
        "?page_size=false",
        "?ordering=__main__",
    ],
)
def test_bad_filter_values_never_answer_500(query, courier_client):
    response = courier_client.get(f"/api/v1/courier/offers/{query}")

    assert response.status_code < 500
    if response.status_code >= 400:
        assert "error" in response.json()


@pytest.mark.parametrize("value", ["null", "abc", "1e2", "-1", "99999999999999999999999"])
@pytest.mark.parametrize("name", ["since_id", "before_id"])
def test_bad_chat_cursors_are_a_400(name, value, shipper):
    from rest_framework.test import APIClient

    from marketplace.lifecycle.matching import offer_accept
    from marketplace.matching.services import offers_make_for_parcel

    courier = CourierFactory()
    line_trip(courier=courier)
    parcel = parcel_near(shipper=shipper)
    offers_make_for_parcel(parcel_id=parcel.pk)
    delivery = offer_accept(offer_id=Offer.objects.get(parcel=parcel).pk, courier=courier)
    client = APIClient()
    client.force_authenticate(shipper)

    response = client.get(f"/api/v1/deliveries/{delivery.pk}/messages/?{name}={value}")

    assert name in _error(response, 400)["fields"]


# --- bodies over the upload limit ---------------------------------------------------------------
def test_an_api_body_over_the_upload_limit_is_a_413_with_the_error_body(settings, shipper_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"description": "' + "x" * 20_000 + '"}'

    response = _post_raw(shipper_client, "/api/v1/parcels/", body)

    error = _error(response, 413, "payload_too_large")
    assert "10000 bytes" in error["message"]
    assert not Parcel.objects.exists()


def test_a_web_form_over_the_upload_limit_is_a_413_page(settings, client: Client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(ShipperFactory())

    response = client.post(
        "/parcels/new/",
        data="description=" + "x" * 20_000,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 413
    assert not Parcel.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "pickup_before=1000-09-16T05:06:26%2B16:51",
        "pickup_after=2753-08-06T12:06:23Z",
        "pickup_before=9999-12-31T23:59:59-23:59",
        "pickup_after=0001-01-01T00:00:00Z",
        "max_weight_grams=1e100000",
        "max_weight_grams=" + "9" * 30,
        "max_weight_grams=-1",
    ],
)
def test_out_of_range_filter_values_are_a_400(query, courier_client):
    response = courier_client.get(f"/api/v1/courier/open-parcels/?{query}")

    assert query.split("=")[0] in _error(response, 400, "invalid")["fields"]


@pytest.mark.parametrize("query", ["departs_after=9999-12-31T23:59:59Z", "departs_before=x"])
def test_bad_trip_filters_are_a_400(query, courier_client):
    response = courier_client.get(f"/api/v1/trips/?{query}")

    assert query.split("=")[0] in _error(response, 400, "invalid")["fields"]
