"""Bad parcel input: 400 with `error.fields` naming the field, and nothing stored."""

import io
import os
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from marketplace.parcels.models import Parcel, ParcelEvent
from tests.api.payloads import assert_error, parcel_form, parcel_payload

pytestmark = pytest.mark.django_db

PARCELS = "/api/v1/parcels/"


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    """A real PNG; with noise it does not compress, so its size grows with its area."""
    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def assert_refused(response, *fields: str) -> dict:
    error = assert_error(response, 400, code="invalid")
    assert "fields" in error, error
    for field in fields:
        assert field in error["fields"], error
        assert all(isinstance(m, str) and m for m in error["fields"][field])
    return error


def in_hours(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pickup_point", {"type": "LineString", "coordinates": [[13.4, 52.5], [13.5, 52.6]]}),
        ("pickup_point", {"type": "Polygon", "coordinates": [13.4, 52.5]}),
        ("pickup_point", {"coordinates": [13.4, 52.5]}),
        ("pickup_point", {"type": "Point"}),
        ("pickup_point", {"type": "Point", "coordinates": []}),
        ("pickup_point", {"type": "Point", "coordinates": [13.4]}),
        ("pickup_point", {"type": "Point", "coordinates": ["13.4", "52.5"]}),
        ("pickup_point", {"type": "Point", "coordinates": [True, 52.5]}),
        ("pickup_point", {"type": "Point", "coordinates": [[13.4, 52.5]]}),
        ("pickup_point", "not json at all {"),
        ("pickup_point", "POINT(13.4 52.5)"),
        ("pickup_point", [13.4, 52.5]),
        ("pickup_point", 42),
        ("pickup_point", None),
        ("dropoff_point", {"type": "Point", "coordinates": [13.4, 91]}),
        ("dropoff_point", {"type": "Point", "coordinates": [13.4, -90.5]}),
        ("dropoff_point", {"type": "Point", "coordinates": [181, 52.5]}),
        ("dropoff_point", {"type": "Point", "coordinates": [-180.01, 52.5]}),
        ("dropoff_point", '{"type": "Point", "coordinates": [13.4, 91]}'),
    ],
)
def test_invalid_geojson_is_400_naming_the_point_and_stores_nothing(shipper_client, field, value):
    # given
    before = Parcel.objects.count()

    # when
    response = shipper_client.post(PARCELS, parcel_payload(**{field: value}), format="json")

    # then
    assert_refused(response, field)
    assert Parcel.objects.count() == before


def test_out_of_range_latitude_says_what_is_wrong(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(pickup_point={"type": "Point", "coordinates": [13.4, 91]}),
        format="json",
    )

    # then
    error = assert_refused(response, "pickup_point")
    assert "latitude 91" in error["fields"]["pickup_point"][0]
    assert not Parcel.objects.exists()


def test_out_of_range_longitude_says_what_is_wrong(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(pickup_point={"type": "Point", "coordinates": [181, 52.5]}),
        format="json",
    )

    # then
    error = assert_refused(response, "pickup_point")
    assert "longitude 181" in error["fields"]["pickup_point"][0]
    assert not Parcel.objects.exists()


def test_pickup_window_ending_before_it_starts_is_400(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(pickup_window_start=in_hours(3), pickup_window_end=in_hours(2)),
        format="json",
    )

    # then
    assert_refused(response, "pickup_window_end")
    assert not Parcel.objects.exists()
    assert not ParcelEvent.objects.exists()


def test_delivery_window_ending_before_pickup_starts_is_400(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(
            pickup_window_start=in_hours(5),
            pickup_window_end=in_hours(6),
            delivery_window_start=in_hours(1),
            delivery_window_end=in_hours(2),
        ),
        format="json",
    )

    # then
    error = assert_refused(response, "delivery_window_end")
    assert any("pickup" in m for m in error["fields"]["delivery_window_end"])
    assert not Parcel.objects.exists()


def test_delivery_window_ending_before_it_starts_is_400(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(delivery_window_start=in_hours(6), delivery_window_end=in_hours(4)),
        format="json",
    )

    # then
    assert_refused(response, "delivery_window_end")
    assert not Parcel.objects.exists()


def test_pickup_window_in_the_past_is_400(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(pickup_window_start=in_hours(-3), pickup_window_end=in_hours(-1)),
        format="json",
    )

    # then
    assert_refused(response, "pickup_window_end")
    assert not Parcel.objects.exists()


def test_several_bad_fields_are_all_named_at_once(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(
            weight_grams=-5,
            size_class="XXL",
            pickup_point={"type": "Point", "coordinates": [13.4, 91]},
            pickup_window_start="not a date",
        ),
        format="json",
    )

    # then
    assert_refused(response, "weight_grams", "size_class", "pickup_point", "pickup_window_start")
    assert not Parcel.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_grams", -1),
        ("weight_grams", 0),
        ("weight_grams", 200_001),
        ("weight_grams", "heavy"),
        ("weight_grams", 2.5),
        ("size_class", "XXL"),
        ("size_class", "m"),
        ("size_class", ""),
        ("declared_value", -100),
        ("declared_value", 100_000_001),
        ("description", ""),
        ("description", "x" * 201),
        ("pickup_address", ""),
        ("dropoff_contact_phone", "1" * 33),
        ("delivery_window_end", "tomorrow"),
    ],
)
def test_bad_field_is_400_naming_it_and_stores_nothing(shipper_client, field, value):
    # when
    response = shipper_client.post(PARCELS, parcel_payload(**{field: value}), format="json")

    # then
    assert_refused(response, field)
    assert not Parcel.objects.exists()


@pytest.mark.parametrize(
    "field",
    [
        "description",
        "size_class",
        "weight_grams",
        "declared_value",
        "pickup_point",
        "pickup_address",
        "pickup_window_start",
        "dropoff_point",
        "delivery_window_end",
    ],
)
def test_missing_required_field_is_400_naming_it(shipper_client, field):
    # given
    body = parcel_payload()
    del body[field]

    # when
    response = shipper_client.post(PARCELS, body, format="json")

    # then
    assert_refused(response, field)
    assert not Parcel.objects.exists()


def test_dropoff_at_the_pickup_is_400(shipper_client):
    # given
    body = parcel_payload()
    body["dropoff_point"] = body["pickup_point"]

    # when
    response = shipper_client.post(PARCELS, body, format="json")

    # then
    assert_refused(response, "dropoff_point")
    assert not Parcel.objects.exists()


def test_malformed_json_body_is_400_and_stores_nothing(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS, data='{"description": "Box", ', content_type="application/json"
    )

    # then
    assert_error(response, 400, code="parse_error")
    assert not Parcel.objects.exists()


def test_a_photo_that_fits_is_stored_and_linked(shipper_client, settings):
    # given
    settings.MAX_UPLOAD_BYTES = 10_000
    photo = SimpleUploadedFile("box.png", png(64, 48), content_type="image/png")
    assert photo.size < 10_000

    # when
    response = shipper_client.post(PARCELS, {**parcel_form(), "photo": photo}, format="multipart")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["photo"].startswith("http://testserver/media/parcels/")
    assert body["photo"].endswith(".png")
    parcel = Parcel.objects.get(pk=body["id"])
    assert parcel.photo.name.startswith("parcels/")
    with Image.open(parcel.photo.path) as stored:
        assert stored.size == (64, 48)
    assert body["pickup_point"]["coordinates"] == parcel_payload()["pickup_point"]["coordinates"]


def test_an_oversized_photo_is_400_and_stores_nothing(shipper_client, settings):
    # given
    settings.MAX_UPLOAD_BYTES = 10_000
    content = png(200, 200, noise=True)
    assert len(content) > 10_000
    photo = SimpleUploadedFile("big.png", content, content_type="image/png")

    # when
    response = shipper_client.post(PARCELS, {**parcel_form(), "photo": photo}, format="multipart")

    # then
    error = assert_refused(response, "photo")
    message = error["fields"]["photo"][0]
    assert "at most" in message
    assert "at most 0 MB" not in message  # the limit is shown, not rounded down to nothing
    assert not Parcel.objects.exists()
    assert not (settings.MEDIA_ROOT / "parcels").exists()


def test_a_file_that_is_not_an_image_is_400_and_stores_nothing(shipper_client, settings):
    # given
    settings.MAX_UPLOAD_BYTES = 10_000
    fake = SimpleUploadedFile("box.png", b"%PDF-1.4 not an image", content_type="image/png")

    # when
    response = shipper_client.post(PARCELS, {**parcel_form(), "photo": fake}, format="multipart")

    # then
    assert_refused(response, "photo")
    assert not Parcel.objects.exists()
    assert not (settings.MEDIA_ROOT / "parcels").exists()


def test_bad_multipart_geojson_is_400(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS, parcel_form(pickup_point="{not json"), format="multipart"
    )

    # then
    assert_refused(response, "pickup_point")
    assert not Parcel.objects.exists()


def test_a_photo_can_be_added_later_with_a_multipart_patch(shipper_client, settings):
    # given
    settings.MAX_UPLOAD_BYTES = 10_000
    created = shipper_client.post(PARCELS, parcel_payload(), format="json").json()
    photo = SimpleUploadedFile("later.png", png(32, 32), content_type="image/png")

    # when
    response = shipper_client.patch(
        f"{PARCELS}{created['id']}/", {"photo": photo}, format="multipart"
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["photo"].endswith(".png")
    assert response.json()["price_total"] == created["price_total"]
    assert Parcel.objects.get(pk=created["id"]).photo.name.startswith("parcels/")


def test_an_oversized_photo_in_a_patch_is_400_and_changes_nothing(shipper_client, settings):
    # given
    settings.MAX_UPLOAD_BYTES = 10_000
    created = shipper_client.post(PARCELS, parcel_payload(), format="json").json()
    photo = SimpleUploadedFile("big.png", png(200, 200, noise=True), content_type="image/png")

    # when
    response = shipper_client.patch(
        f"{PARCELS}{created['id']}/", {"photo": photo}, format="multipart"
    )

    # then
    assert_refused(response, "photo")
    assert not Parcel.objects.get(pk=created["id"]).photo
