"""Delivery options (issue 11, item 7): set when a parcel is posted (web, API, merchant API),
shown to couriers in their offers and deliveries, and enforced at delivery; the prohibited-items
declaration and the cover limit on the declared value."""

import pytest

from marketplace.deliveries.models import DeliveryStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from tests.api.matching_helpers import (
    DELIVERIES,
    OFFERS,
    PARCELS,
    assigned_delivery,
    client_for,
    courier_with_trip,
    in_transit,
    png,
    snapshot,
    url,
)
from tests.api.payloads import assert_error, parcel_payload
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db


def deliver(a, data, **kwargs):
    return client_for(a.courier).post(url(DELIVERIES, a.delivery, "deliver"), data, **kwargs)


# --- posting ------------------------------------------------------------------------------------


def test_a_shipper_posts_options_and_sees_them_in_words(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS,
        parcel_payload(signature_required=True, minimum_age=18, fragile=True),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["signature_required"], body["minimum_age"], body["fragile"]) == (True, 18, True)
    assert body["options"] == [
        "Signature required",
        "Recipient's code",
        "ID check: 18+",
        "Fragile",
    ]
    parcel = Parcel.objects.get()
    assert parcel.prohibited_items_declared and parcel.signature_required


def test_without_the_prohibited_items_declaration_nothing_is_posted(shipper_client):
    # when
    response = shipper_client.post(
        PARCELS, parcel_payload(prohibited_items_declared=False), format="json"
    )

    # then
    assert response.status_code == 400, response.content
    message = assert_error(response, 400)["fields"]["prohibited_items_declared"][0]
    assert "weapons and ammunition" in message
    assert not Parcel.objects.exists()


def test_an_empty_prohibited_list_turns_the_declaration_off(shipper_client, settings):
    # given
    settings.PARCEL_PROHIBITED_ITEMS = []
    body = parcel_payload()
    del body["prohibited_items_declared"]

    # when
    response = shipper_client.post(PARCELS, body, format="json")

    # then
    assert response.status_code == 201, response.content


def test_a_declared_value_above_the_cover_limit_is_refused(shipper_client, settings):
    # given
    settings.PARCEL_COVER_LIMIT = 50_000

    # when
    over = shipper_client.post(PARCELS, parcel_payload(declared_value=50_001), format="json")
    at = shipper_client.post(PARCELS, parcel_payload(declared_value=50_000), format="json")

    # then
    assert over.status_code == 400, over.content
    assert "500.00" in assert_error(over, 400)["fields"]["declared_value"][0]
    assert at.status_code == 201, at.content
    assert Parcel.objects.count() == 1


@pytest.mark.parametrize("other", [{"signature_required": True}, {"minimum_age": 18}])
def test_leave_at_the_door_cannot_be_combined_with_a_person_check(shipper_client, other):
    # when
    response = shipper_client.post(
        PARCELS, parcel_payload(leave_at_door=True, **other), format="json"
    )

    # then
    assert response.status_code == 400, response.content
    assert "leave_at_door" in assert_error(response, 400)["fields"]
    assert not Parcel.objects.exists()


def test_options_cannot_be_changed_after_posting(shipper, shipper_client):
    # given
    parcel = make_parcel(shipper=shipper, publish=False)

    # when
    response = shipper_client.patch(url(PARCELS, parcel), {"fragile": True}, format="json")

    # then
    assert response.status_code == 400, response.content
    assert "fragile" in assert_error(response, 400)["message"]
    parcel.refresh_from_db()
    assert parcel.fragile is False


def test_the_parcel_rules_are_public(api_client, settings):
    # given
    settings.PARCEL_COVER_LIMIT = 70_000

    # when
    response = api_client.get("/api/v1/parcel-rules/")

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cover_limit"] == 70_000
    assert body["declaration_required"] is True
    assert "live animals" in body["prohibited_items"]
    assert body["currency"] == settings.MARKETPLACE_CURRENCY


# --- couriers see them -----------------------------------------------------------------------


def test_a_courier_sees_the_options_in_the_offer_and_the_delivery():
    # given
    courier, _trip = courier_with_trip()
    make_parcel(fragile=True, minimum_age=16)
    offers_make_for_parcel(parcel_id=Parcel.objects.get().pk)

    # when
    offers = client_for(courier).get(OFFERS).json()["results"]

    # then
    assert offers[0]["parcel"]["options"] == ["Recipient's code", "ID check: 16+", "Fragile"]


def test_the_assigned_courier_sees_the_options_with_the_parcel():
    # given
    a = assigned_delivery(leave_at_door=True, pin_required=False)

    # when
    body = client_for(a.courier).get(url(DELIVERIES, a.delivery)).json()

    # then
    assert body["parcel"]["leave_at_door"] is True
    assert body["parcel"]["options"] == ["Leave at the door (photo)"]


# --- proof at delivery -----------------------------------------------------------------------


def test_a_signature_required_parcel_is_not_delivered_without_one():
    # given
    a = in_transit(assigned_delivery(signature_required=True))
    before = snapshot()

    # when
    refused = deliver(a, {"code": a.delivery_code})

    # then
    assert refused.status_code == 400, refused.content
    assert_error(refused, 400, code="proof_required")
    assert "signature" in assert_error(refused, 400)["fields"]
    assert snapshot() == before

    # when: with the signature
    done = deliver(
        a, {"code": a.delivery_code, "signature": png("sig.png", "white")}, format="multipart"
    )

    # then
    assert done.status_code == 200, done.content
    assert a.refresh().delivery.signature_image.name.startswith("signatures/")


def test_an_age_restricted_parcel_needs_the_id_check():
    # given
    a = in_transit(assigned_delivery(minimum_age=18))

    # when
    refused = deliver(a, {"code": a.delivery_code}, format="json")
    done = deliver(a, {"code": a.delivery_code, "id_checked": True}, format="json")

    # then
    assert refused.status_code == 400, refused.content
    assert "18" in assert_error(refused, 400)["fields"]["id_checked"][0]
    assert done.status_code == 200, done.content
    assert done.json()["id_checked_at"] is not None
    assert a.refresh().delivery.id_checked_at is not None


def test_a_parcel_left_at_the_door_needs_a_photo_and_no_code():
    # given
    a = in_transit(assigned_delivery(leave_at_door=True))

    # when: no code, no photo
    refused = deliver(a, {}, format="json")

    # then
    assert refused.status_code == 400, refused.content
    assert "photo" in assert_error(refused, 400)["fields"]
    assert a.refresh().delivery.status == DeliveryStatus.IN_TRANSIT

    # when: a photo at the door
    done = deliver(a, {"photo": png("door.png")}, format="multipart")

    # then
    assert done.status_code == 200, done.content
    a.refresh()
    assert a.delivery.left_at_door is True
    assert a.delivery.proof_photo.name.startswith("proofs/")
    assert a.parcel.status == ParcelStatus.DELIVERED
    assert a.delivery.events.last().note == "Left at the door (photo)"


def test_without_a_code_an_ordinary_parcel_is_refused_and_no_attempt_counted():
    # given
    a = in_transit(assigned_delivery())

    # when
    response = deliver(a, {}, format="json")

    # then
    assert response.status_code == 400, response.content
    assert "code" in assert_error(response, 400)["fields"]
    assert a.refresh().delivery.delivery_code_attempts == 0


def test_a_parcel_without_the_pin_option_is_delivered_without_a_code():
    # given
    a = in_transit(assigned_delivery(pin_required=False))

    # when
    response = deliver(a, {}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert a.refresh().delivery.status == DeliveryStatus.DELIVERED
