"""Returns on the web site: the shipper's parcel page and the recipient's tracking page."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns.models import ParcelReturn, ReturnStatus
from marketplace.tracking.models import TrackingLink
from tests.factories.accounts import ShipperFactory
from tests.returns.helpers import delivered_parcel

pytestmark = pytest.mark.django_db


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _png() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, format="PNG")
    return SimpleUploadedFile("box.png", out.getvalue(), content_type="image/png")


def test_the_parcel_page_offers_a_return_and_booking_one_leads_to_the_way_back():
    original, _ = delivered_parcel()
    client = _logged_in(original.shipper)
    page = client.get(f"/parcels/{original.pk}/")
    assert b'data-testid="return-form"' in page.content

    response = client.post(
        f"/parcels/{original.pk}/return/",
        {"reason_code": "damaged", "reason": "Dented corner", "photos": [_png(), _png()]},
    )

    parcel_return = ParcelReturn.objects.get(original=original)
    assert response.status_code == 302
    assert response["Location"] == f"/parcels/{parcel_return.reverse_id}/"
    assert parcel_return.photos.count() == 2
    reverse_page = client.get(response["Location"]).content.decode()
    assert "way back of" in reverse_page and f"parcel #{original.pk}" in reverse_page
    original_page = client.get(f"/parcels/{original.pk}/").content.decode()
    assert 'data-testid="return-status"' in original_page
    assert 'data-testid="return-form"' not in original_page  # not twice


def test_a_bad_form_shows_an_error_and_creates_nothing():
    original, _ = delivered_parcel()
    client = _logged_in(original.shipper)
    before = Parcel.objects.count()
    response = client.post(
        f"/parcels/{original.pk}/return/",
        {"reason_code": "other", "reason": ""},
        follow=True,
    )
    assert "Say why the parcel goes back." in response.content.decode()
    assert Parcel.objects.count() == before and not ParcelReturn.objects.exists()

    not_mine = _logged_in(ShipperFactory()).post(
        f"/parcels/{original.pk}/return/", {"reason_code": "damaged"}
    )
    assert not_mine.status_code == 404


def test_the_recipient_asks_on_the_tracking_page_and_the_shipper_approves_on_hers():
    original, delivery = delivered_parcel()
    token = TrackingLink.objects.get_or_create(delivery=delivery)[0].token
    recipient = Client()
    assert b'data-testid="public-return-form"' in recipient.get(f"/t/{token}/").content

    response = recipient.post(
        f"/t/{token}/return/", {"reason_code": "wrong_item", "photos": [_png()]}
    )

    assert response.status_code == 302
    page = recipient.get(response["Location"]).content.decode()
    assert 'data-testid="public-return"' in page and "Requested" in page
    parcel_return = ParcelReturn.objects.get(original=original)
    assert parcel_return.requested_by == "recipient"

    shipper = _logged_in(original.shipper)
    assert b'data-testid="return-approve"' in shipper.get(f"/parcels/{original.pk}/").content
    shipper.post(f"/returns/{parcel_return.pk}/approve/")
    parcel_return.refresh_from_db()
    original.refresh_from_db()
    assert parcel_return.status == ReturnStatus.APPROVED
    assert original.status == ParcelStatus.RETURNING


def test_the_shipper_refuses_and_the_recipient_reads_why():
    original, delivery = delivered_parcel()
    token = TrackingLink.objects.get_or_create(delivery=delivery)[0].token
    Client().post(f"/t/{token}/return/", {"reason_code": "not_wanted"})
    parcel_return = ParcelReturn.objects.get(original=original)
    shipper = _logged_in(original.shipper)

    empty = shipper.post(f"/returns/{parcel_return.pk}/refuse/", {"reason": ""}, follow=True)
    assert "Say why the return is refused." in empty.content.decode()
    shipper.post(f"/returns/{parcel_return.pk}/refuse/", {"reason": "Custom-made item"})

    parcel_return.refresh_from_db()
    assert parcel_return.status == ReturnStatus.REFUSED
    assert "Custom-made item" in Client().get(f"/t/{token}/").content.decode()
    assert (
        _logged_in(ShipperFactory()).post(f"/returns/{parcel_return.pk}/approve/").status_code
        == 404
    )


def test_a_bad_public_request_keeps_what_was_typed_and_says_why():
    _, delivery = delivered_parcel()
    token = TrackingLink.objects.get_or_create(delivery=delivery)[0].token
    response = Client().post(
        f"/t/{token}/return/", {"reason_code": "other", "reason": "", "photos": []}
    )
    assert response.status_code == 400
    assert "Say why the parcel goes back." in response.content.decode()
    assert not ParcelReturn.objects.exists()
    assert Client().post("/t/not-a-token/return/", {"reason_code": "damaged"}).status_code == 404
