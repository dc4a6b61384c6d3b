"""Downloading one's data (issue 14, "Personal data"): the export holds everything that is the
person's own, and nothing about the other people they dealt with; secrets stay out; the web page
and the API hand out a ZIP, to the signed-in person only."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.chat.services import message_post
from marketplace.deliveries.services import rating_create
from marketplace.lifecycle.personal_data import personal_data_export, personal_data_zip
from marketplace.notifications.models import Notification
from marketplace.tracking.models import LocationPing
from marketplace.tracking.services import pings_record
from tests.factories.accounts import ShipperFactory
from tests.tracking.helpers import deliver, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def delivered():
    """A shipper and a courier who chatted, whose parcel was carried (with positions sent by
    the courier's phone), delivered and rated both ways; and a bystander with a parcel."""
    shipper = User.objects.get(pk=ShipperFactory(full_name="Shona Shipper", phone="+49 1").pk)
    delivery = start(pick_up(new_delivery(shipper=shipper)))
    courier = delivery.courier
    User.objects.filter(pk=courier.pk).update(full_name="Cora Courier", phone="+49 2")
    courier.refresh_from_db()
    message_post(delivery=delivery, sender=shipper, body="Ring twice, shipper here")
    message_post(delivery=delivery, sender=courier, body="On my way, courier here")
    pings_record(
        delivery=delivery,
        courier=courier,
        pings=[ping(2_500, at=minutes_ago(2)), ping(3_000, at=minutes_ago(1))],
    )
    delivery = deliver(delivery)
    rating_create(delivery=delivery, rater=shipper, stars=5, comment="Quick and kind")
    rating_create(delivery=delivery, rater=courier, stars=4, comment="Easy pickup")
    bystander = new_delivery().parcel.shipper
    return shipper, courier, delivery, bystander


def text_of(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def test_a_shippers_export_holds_their_own_data_and_nothing_about_the_courier(delivered):
    shipper, courier, delivery, bystander = delivered
    data = personal_data_export(user=shipper)

    assert data["profile"]["email"] == shipper.email
    assert [p["id"] for p in data["parcels"]] == [delivery.parcel_id]
    assert data["parcels"][0]["pickup_point"]["type"] == "Point"  # GeoJSON
    assert [d["id"] for d in data["deliveries"]] == [delivery.pk]
    assert data["deliveries"][0]["courier"] is None  # someone else: blanked
    assert [m["body"] for m in data["chat_messages"]] == ["Ring twice, shipper here"]
    assert [r["comment"] for r in data["ratings_given"]] == ["Quick and kind"]
    assert [r["comment"] for r in data["ratings_received"]] == ["Easy pickup"]
    assert data["ratings_received"][0]["rater"] is None
    assert len(data["notifications"]) == Notification.objects.filter(user=shipper).count() > 0
    assert data["positions"] == [] and data["trips"] == []
    assert {e["parcel_id"] for e in data["parcel_history"]} == {delivery.parcel_id}

    text = text_of(data)
    for other in (courier, bystander):
        for value in (other.email, other.full_name, other.phone):
            assert value not in text, value
    # the courier's words reach the shipper's export only as the notifications sent to them
    without_notifications = text_of({k: v for k, v in data.items() if k != "notifications"})
    assert "On my way, courier here" not in without_notifications
    assert bystander.parcels.get().pk not in [p["id"] for p in data["parcels"]]
    # secrets stay out
    assert "pbkdf2" not in text and "password" not in data["profile"]
    assert all("pickup_code" not in d and "delivery_code" not in d for d in data["deliveries"])


def test_a_couriers_export_holds_their_trips_offers_and_positions(delivered):
    shipper, courier, delivery, _bystander = delivered
    data = personal_data_export(user=courier)

    assert delivery.trip_id in [t["id"] for t in data["trips"]]
    assert {t["courier"] for t in data["trips"]} == {courier.pk}
    assert delivery.parcel_id in [o["parcel_id"] for o in data["offers"]]
    assert {o["courier"] for o in data["offers"]} == {courier.pk}
    assert [d["courier"] for d in data["deliveries"]] == [courier.pk]
    assert len(data["positions"]) == LocationPing.objects.filter(delivery=delivery).count() == 2
    assert {p["delivery_id"] for p in data["positions"]} == {delivery.pk}
    assert [m["body"] for m in data["chat_messages"]] == ["On my way, courier here"]
    assert data["parcels"] == [] and data["payments"] == []
    text = text_of({k: v for k, v in data.items() if k != "notifications"})
    for value in (shipper.email, shipper.full_name, shipper.phone, "Ring twice, shipper here"):
        assert value not in text, value


def test_the_zip_has_the_data_and_the_persons_photos(delivered, settings):
    shipper, _courier, delivery, _ = delivered
    parcel = delivery.parcel
    parcel.photo.save("box.png", io.BytesIO(b"\x89PNG fake image bytes"), save=True)

    archive = zipfile.ZipFile(io.BytesIO(personal_data_zip(user=shipper)))

    assert json.loads(archive.read("data.json"))["parcels"][0]["photo"] == parcel.photo.name
    assert archive.read(f"files/{parcel.photo.name}") == b"\x89PNG fake image bytes"


def test_the_profile_page_and_the_api_hand_the_zip_to_its_owner_only(delivered, client, api_client):
    shipper, courier, _delivery, _ = delivered
    assert client.get(reverse("web:profile_data")).status_code == 302  # to the login page
    client.force_login(shipper)
    assert b'data-testid="profile-data"' in client.get(reverse("web:profile")).content
    page = client.get(reverse("web:profile_data"))
    assert page.status_code == 200 and page["Content-Type"] == "application/zip"
    assert page["Content-Disposition"].startswith('attachment; filename="waypost-data-')
    data = json.loads(zipfile.ZipFile(io.BytesIO(page.content)).read("data.json"))
    assert data["profile"]["email"] == shipper.email
    assert client.post(reverse("web:profile_data")).status_code == 405

    assert api_client.get("/api/v1/me/data/").status_code == 401
    api_client.force_authenticate(courier)
    answer = api_client.get("/api/v1/me/data/")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(answer.content)).read("data.json"))
    assert data["profile"]["email"] == courier.email
