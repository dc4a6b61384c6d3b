"""Every API error has one body: {"error": {"code", "message"[, "fields"][, "details"]}}."""

import pytest

from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.parcels.models import Parcel
from tests.api.payloads import assert_error, parcel_payload
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db

PARCELS = "/api/v1/parcels/"


def test_validation_errors_list_messages_per_field(shipper_client):
    # when
    response = shipper_client.post(PARCELS, parcel_payload(weight_grams=0), format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert error["message"] == "The request has invalid fields."
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["fields"]["weight_grams"], list)
    assert all(isinstance(m, str) for m in error["fields"]["weight_grams"])


def test_business_rule_errors_name_fields_too(shipper_client):
    # when: each field is fine on its own, together they are not
    body = parcel_payload()
    body["dropoff_point"] = body["pickup_point"]
    response = shipper_client.post(PARCELS, body, format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert error["message"] == "The parcel has invalid fields."
    assert list(error["fields"]) == ["dropoff_point"]


def test_a_conflict_carries_details_of_the_refused_move(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    parcel_cancel(parcel=parcel, actor=shipper)

    # when
    response = shipper_client.post(f"{PARCELS}{parcel.pk}/publish/")

    # then
    error = assert_error(response, 409, code="transition_not_allowed")
    assert error["details"] == {"from": "cancelled", "to": "open", "allowed": []}
    assert Parcel.objects.get(pk=parcel.pk).status == "cancelled"


@pytest.mark.parametrize("pk", ["999999", "0", "abc"])
def test_unknown_or_malformed_ids_are_404(shipper_client, pk):
    # when
    response = shipper_client.get(f"{PARCELS}{pk}/")

    # then
    assert_error(response, 404, code="not_found")


def test_a_page_past_the_end_is_404(shipper_client, shipper):
    # given
    make_parcel(shipper=shipper)

    # when
    response = shipper_client.get(PARCELS, {"page": 5})

    # then
    assert_error(response, 404, code="not_found")


def test_page_size_is_capped(shipper_client, shipper):
    # given
    make_parcel(shipper=shipper)

    # when
    response = shipper_client.get(PARCELS, {"page_size": 10_000})

    # then
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_wrong_method_is_405(shipper_client):
    # when
    response = shipper_client.put(PARCELS, {}, format="json")

    # then
    error = assert_error(response, 405, code="method_not_allowed")
    assert "PUT" in error["message"]


def test_an_unsupported_content_type_is_415_and_stores_nothing(shipper_client):
    # when
    response = shipper_client.post(PARCELS, data="description=Box", content_type="text/plain")

    # then
    assert_error(response, 415, code="unsupported_media_type")
    assert not Parcel.objects.exists()


def test_malformed_json_is_400(shipper_client):
    # when
    response = shipper_client.post(PARCELS, data="{", content_type="application/json")

    # then
    assert_error(response, 400, code="parse_error")


def test_permission_denied_has_a_readable_message(courier_client):
    # when
    response = courier_client.get(PARCELS)

    # then
    error = assert_error(response, 403, code="permission_denied")
    assert error["message"] == "Only shippers can do this. Add the shipper role to your account."
