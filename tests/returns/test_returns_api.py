"""The returns API: shipper, courier and recipient (token) paths, with clear 4xx errors."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import delivering
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns.models import ParcelReturn, ReturnStatus
from marketplace.tracking.models import TrackingLink
from tests.api.payloads import assert_error
from tests.factories.accounts import ShipperFactory
from tests.factories.matching import assigned, line_trip, parcel_near
from tests.returns.helpers import carry, delivered_parcel

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _png(name: str = "box.png") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def test_the_shipper_sends_a_parcel_back_with_photos_and_reads_its_progress():
    original, _ = delivered_parcel()
    client = _client(original.shipper)

    response = client.post(
        f"/api/v1/parcels/{original.pk}/return/",
        {"reason_code": "damaged", "reason": "Crushed", "photos": [_png(), _png("b.png")]},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "approved" and body["original"] == original.pk
    assert len(body["photos"]) == 2
    assert body["reverse_status"] == "open"
    reverse = client.get(f"/api/v1/parcels/{body['reverse']}/").json()
    assert reverse["is_return"] is True
    assert client.get(f"/api/v1/parcels/{original.pk}/return/").json()["id"] == body["id"]
    assert client.get("/api/v1/returns/").json()["results"][0]["id"] == body["id"]


def test_bad_requests_get_clear_errors_and_create_nothing(settings):
    original, delivery = delivered_parcel()
    client = _client(original.shipper)
    before = (Parcel.objects.count(), ParcelReturn.objects.count())

    bad_reason = client.post(f"/api/v1/parcels/{original.pk}/return/", {"reason_code": "meh"})
    assert bad_reason.status_code == 400 and "reason_code" in str(bad_reason.json())

    not_a_photo = client.post(
        f"/api/v1/parcels/{original.pk}/return/",
        {
            "reason_code": "damaged",
            "photos": [SimpleUploadedFile("x.png", b"not an image", "image/png")],
        },
        format="multipart",
    )
    assert not_a_photo.status_code == 400 and "photos" in str(not_a_photo.json())

    someone_else = _client(ShipperFactory()).post(
        f"/api/v1/parcels/{original.pk}/return/", {"reason_code": "damaged"}
    )
    assert someone_else.status_code == 404

    Delivery.objects.filter(pk=delivery.pk).update(
        delivered_at=timezone.now() - timedelta(days=settings.RETURN_WINDOW_DAYS + 1)
    )
    late = client.post(f"/api/v1/parcels/{original.pk}/return/", {"reason_code": "damaged"})
    assert_error(late, 409, code="return_window_closed")
    assert (Parcel.objects.count(), ParcelReturn.objects.count()) == before


def test_twice_is_a_conflict_and_not_delivered_is_a_conflict():
    original, _ = delivered_parcel()
    client = _client(original.shipper)
    assert (
        client.post(
            f"/api/v1/parcels/{original.pk}/return/", {"reason_code": "damaged"}
        ).status_code
        == 201
    )
    again = client.post(f"/api/v1/parcels/{original.pk}/return/", {"reason_code": "damaged"})
    assert again.status_code == 409

    open_parcel = parcel_near(shipper=original.shipper)
    early = client.post(f"/api/v1/parcels/{open_parcel.pk}/return/", {"reason_code": "damaged"})
    assert_error(early, 409, code="not_delivered")


def test_the_recipient_asks_with_the_token_and_the_shipper_decides():
    original, delivery = delivered_parcel()
    token = TrackingLink.objects.get_or_create(delivery=delivery)[0].token
    anonymous = APIClient()

    assert anonymous.post("/api/v1/track/nope/return/", {"reason_code": "x"}).status_code == 404
    response = anonymous.post(
        f"/api/v1/track/{token}/return/",
        {"reason_code": "wrong_item", "reason": "Not what I ordered"},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "requested"
    assert set(response.json()) == {"id", "status", "reason_code", "refusal_reason", "created_at"}
    # the recipient cannot say where it goes
    other, other_delivery = delivered_parcel()
    other_token = TrackingLink.objects.get_or_create(delivery=other_delivery)[0].token
    redirect = anonymous.post(
        f"/api/v1/track/{other_token}/return/",
        {"reason_code": "damaged", "dropoff_address": "My friend's flat"},
    )
    assert redirect.status_code == 201  # unknown fields are ignored by the serializer
    assert ParcelReturn.objects.get(original=other).reverse.dropoff_address == other.pickup_address

    shipper = _client(original.shipper)
    return_id = response.json()["id"]
    refused = shipper.post(f"/api/v1/returns/{return_id}/refuse/", {})
    assert refused.status_code == 400
    approved = shipper.post(f"/api/v1/returns/{return_id}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == ReturnStatus.APPROVED
    assert shipper.post(f"/api/v1/returns/{return_id}/approve/").status_code == 409
    assert (
        _client(ShipperFactory()).post(f"/api/v1/returns/{return_id}/approve/").status_code == 404
    )


def test_the_courier_sends_a_failed_delivery_back():
    trip = line_trip()
    parcel = parcel_near()
    delivery = assigned(parcel, trip.courier)
    carry(delivery, trip.courier)
    courier = _client(trip.courier)
    early = courier.post(f"/api/v1/courier/deliveries/{delivery.pk}/send-back/", {"reason": "x"})
    assert_error(early, 409, code="not_failed")

    delivering.delivery_fail(delivery=delivery, actor=trip.courier, reason="Nobody home")
    assert (
        courier.post(f"/api/v1/courier/deliveries/{delivery.pk}/send-back/", {}).status_code == 400
    )
    response = courier.post(
        f"/api/v1/courier/deliveries/{delivery.pk}/send-back/", {"reason": "Nobody home"}
    )
    assert response.status_code == 201, response.json()
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.RETURNING
    assert response.json()["requested_by"] == "courier"
