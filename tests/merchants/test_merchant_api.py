"""The merchant API with API keys: create, get, list, cancel; who may do what (nothing changed
on refusal); external references; pickup locations; per-key throttles."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from marketplace.matching import engine
from marketplace.merchants import services
from marketplace.merchants.models import MerchantApiKey
from marketplace.parcels.models import Parcel, ParcelStatus
from tests.api.payloads import assert_error
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.merchants import (
    MerchantMemberFactory,
    PickupLocationFactory,
    merchant_with_key,
)
from tests.merchants.helpers import DELIVERIES, delivery_body, key_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def test_a_shop_creates_gets_lists_and_cancels_a_delivery():
    merchant, key = merchant_with_key()
    client = key_client(key)
    response = client.post(DELIVERIES, delivery_body(external_reference="A-1"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    parcel = Parcel.objects.get(pk=body["id"])
    assert parcel.merchant == merchant and parcel.external_reference == "A-1"
    assert parcel.status == ParcelStatus.OPEN and not parcel.is_test
    assert parcel.shipper == services.merchant_owner_user(merchant)
    assert body["status"] == "open" and body["external_reference"] == "A-1"

    assert client.get(f"{DELIVERIES}{parcel.pk}/").json()["id"] == parcel.pk
    listed = client.get(DELIVERIES, {"external_reference": "A-1"}).json()
    assert [d["id"] for d in listed["results"]] == [parcel.pk]
    assert client.get(DELIVERIES, {"status": "delivered"}).json()["count"] == 0

    response = client.post(f"{DELIVERIES}{parcel.pk}/cancel/", {"reason": "customer"})
    assert response.status_code == 200, response.content
    assert Parcel.objects.get(pk=parcel.pk).status == ParcelStatus.CANCELLED
    assert MerchantApiKey.objects.get().last_used_at is not None


def test_external_reference_is_unique_per_merchant():
    merchant, key = merchant_with_key()
    client = key_client(key)
    first = client.post(DELIVERIES, delivery_body(external_reference="R-7"), format="json")
    again = client.post(DELIVERIES, delivery_body(external_reference="R-7"), format="json")
    error = assert_error(again, 409, code="external_reference_taken")
    assert error["details"] == {"id": first.json()["id"]}
    _, other = merchant_with_key()
    response = key_client(other).post(
        DELIVERIES, delivery_body(external_reference="R-7"), format="json"
    )
    assert response.status_code == 201
    assert Parcel.objects.filter(merchant=merchant).count() == 1


def test_a_pickup_location_stands_for_the_pickup_fields():
    merchant, key = merchant_with_key()
    location = PickupLocationFactory(merchant=merchant)
    body = delivery_body(pickup_location_id=location.pk)
    for name in ("pickup_point", "pickup_address", "pickup_contact_name", "pickup_contact_phone"):
        del body[name]
    response = key_client(key).post(DELIVERIES, body, format="json")
    assert response.status_code == 201, response.content
    parcel = Parcel.objects.get()
    assert parcel.pickup_address == location.address
    other = PickupLocationFactory()
    body["pickup_location_id"] = other.pk
    error = assert_error(key_client(key).post(DELIVERIES, body, format="json"), 400)
    assert "pickup_location_id" in error["fields"]
    assert Parcel.objects.count() == 1


def test_pickup_locations_through_the_api():
    _, key = merchant_with_key()
    client = key_client(key)
    body = {
        "name": "Warehouse",
        "point": {"type": "Point", "coordinates": [13.4, 52.5]},
        "address": "Lager 1",
        "contact_name": "Desk",
        "contact_phone": "+49 1",
    }
    created = client.post("/api/v1/merchant/locations/", body, format="json")
    assert created.status_code == 201, created.content
    location_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/merchant/locations/{location_id}/", {"name": "Hub"}, format="json"
    )
    assert patched.json()["name"] == "Hub"
    assert client.delete(f"/api/v1/merchant/locations/{location_id}/").status_code == 204
    assert client.get(f"/api/v1/merchant/locations/{location_id}/").status_code == 404
    _, other = merchant_with_key()
    assert key_client(other).get("/api/v1/merchant/locations/").json()["count"] == 0


def test_test_keys_see_test_deliveries_only_and_those_are_never_matched():
    merchant, live = merchant_with_key()
    _, test = services.api_key_create(merchant=merchant, name="sandbox", mode="test")
    live_id = key_client(live).post(DELIVERIES, delivery_body(), format="json").json()["id"]
    response = key_client(test).post(
        DELIVERIES, delivery_body(sandbox_outcome="failed"), format="json"
    )
    assert response.status_code == 201, response.content
    test_parcel = Parcel.objects.get(pk=response.json()["id"])
    assert test_parcel.is_test and test_parcel.sandbox_outcome == "failed"
    assert [d["id"] for d in key_client(test).get(DELIVERIES).json()["results"]] == [test_parcel.pk]
    assert key_client(test).get(f"{DELIVERIES}{live_id}/").status_code == 404
    assert key_client(live).get(f"{DELIVERIES}{test_parcel.pk}/").status_code == 404
    error = assert_error(
        key_client(live).post(DELIVERIES, delivery_body(sandbox_outcome="failed"), format="json"),
        400,
    )
    assert "sandbox_outcome" in error["fields"]
    assert engine.trips_for_parcel(test_parcel) == []


def bearer(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def snapshot():
    return sorted(Parcel.objects.values_list("pk", "status"))


@pytest.mark.parametrize(
    "who",
    [
        "other-merchant",
        "revoked",
        "read-only",
        "courier-jwt",
        "shipper-jwt",
        "anonymous",
        "garbage",
    ],
)
def test_refused_callers_change_nothing(who):
    merchant, key = merchant_with_key()
    parcel_id = key_client(key).post(DELIVERIES, delivery_body(), format="json").json()["id"]
    before = snapshot()
    client = APIClient()
    expected = 401
    if who == "other-merchant":
        client = key_client(merchant_with_key()[1])
        expected = 404
    elif who == "revoked":
        prefix = MerchantApiKey.objects.get(merchant=merchant).prefix
        services.api_key_revoke(merchant=merchant, prefix=prefix)
        client = key_client(key)
    elif who == "read-only":
        _, text = services.api_key_create(merchant=merchant, name="ro", scope="read")
        client = key_client(text)
        expected = 403
    elif who == "courier-jwt":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer(CourierFactory())}")
    elif who == "shipper-jwt":
        owner = services.merchant_owner_user(merchant)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer(owner)}")
    elif who == "garbage":
        client = key_client("wp_live_nope.nope")
    cancel = client.post(f"{DELIVERIES}{parcel_id}/cancel/")
    create = client.post(DELIVERIES, delivery_body(), format="json")
    if who == "other-merchant":
        assert cancel.status_code == 404 and create.status_code == 201
        Parcel.objects.filter(pk=create.json()["id"]).delete()
    else:
        assert_error(cancel, expected)
        assert_error(create, expected)
    if expected == 401:
        assert cancel["WWW-Authenticate"] == "Api-Key"
    if who == "read-only":
        assert client.get(f"{DELIVERIES}{parcel_id}/").status_code == 200
    assert snapshot() == before


def test_per_key_throttles_answer_429_with_retry_after(settings):
    settings.MERCHANT_API_WRITE_RATE = "2/min"
    settings.MERCHANT_API_READ_RATE = "3/min"
    _, key = merchant_with_key()
    _, other = merchant_with_key()
    client = key_client(key)
    statuses = [
        client.post(DELIVERIES, delivery_body(), format="json").status_code for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    refused = client.post(DELIVERIES, delivery_body(), format="json")
    assert_error(refused, 429)
    assert int(refused["Retry-After"]) > 0
    assert Parcel.objects.count() == 2
    # Reads have their own budget, and another key its own.
    assert [client.get(DELIVERIES).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert key_client(other).post(DELIVERIES, delivery_body(), format="json").status_code == 201


def test_keys_are_created_by_the_owner_shown_once_and_revoked():
    owner = MerchantMemberFactory()
    staff = MerchantMemberFactory(merchant=owner.merchant, role="staff")
    client = APIClient()
    client.force_authenticate(owner.user)
    response = client.post(
        "/api/v1/merchant/keys/", {"name": "erp", "scope": "write", "mode": "test"}
    )
    assert response.status_code == 201, response.content
    text = response.json()["key"]
    assert text.startswith("wp_test_")
    key = MerchantApiKey.objects.get()
    assert text not in str(MerchantApiKey.objects.values().get())  # only the hash is stored
    listed = client.get("/api/v1/merchant/keys/").json()
    assert "key" not in listed[0] and listed[0]["prefix"] == key.prefix
    assert key_client(text).get(DELIVERIES).status_code == 200

    staff_client = APIClient()
    staff_client.force_authenticate(staff.user)
    assert len(staff_client.get("/api/v1/merchant/keys/").json()) == 1
    assert_error(
        staff_client.post("/api/v1/merchant/keys/", {"name": "x"}), 403, code="not_merchant_owner"
    )
    assert_error(staff_client.post(f"/api/v1/merchant/keys/{key.prefix}/revoke/"), 403)
    outsider = APIClient()
    outsider.force_authenticate(ShipperFactory())
    assert outsider.get("/api/v1/merchant/keys/").json() == []
    assert_error(outsider.post(f"/api/v1/merchant/keys/{key.prefix}/revoke/"), 403)
    assert MerchantApiKey.objects.count() == 1 and not MerchantApiKey.objects.get().revoked

    assert client.post(f"/api/v1/merchant/keys/{key.prefix}/revoke/").json()["revoked"] is True
    assert_error(key_client(text).get(DELIVERIES), 401)
    # a key can't manage keys
    assert key_client(text).get("/api/v1/merchant/keys/").status_code == 401
