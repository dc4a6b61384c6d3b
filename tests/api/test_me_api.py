"""/me and /me/courier-profile: the signed-in user's account, roles and courier vehicle."""

import pytest
from rest_framework.test import APIClient

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from marketplace.accounts.services import courier_profile_upsert
from tests.api.payloads import assert_error
from tests.factories.accounts import CourierFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
PROFILE = "/api/v1/me/courier-profile/"


def test_me_shows_the_signed_in_user(shipper_client, shipper):
    # when
    response = shipper_client.get(ME)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == shipper.pk
    assert body["email"] == shipper.email
    assert body["roles"] == ["shipper"]
    assert body["courier_profile"] is None
    assert "password" not in body


def test_me_of_a_courier_includes_the_profile(courier_client, courier):
    # when
    body = courier_client.get(ME).json()

    # then
    assert body["roles"] == ["courier"]
    assert body["courier_profile"]["vehicle_type"] == "bike"
    assert body["courier_profile"]["verification_status"] == "verified"


def test_patch_me_changes_name_and_phone(shipper_client, shipper):
    # when
    response = shipper_client.patch(ME, {"full_name": "Anna Neu", "phone": "+49 30 999"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "Anna Neu"
    shipper.refresh_from_db()
    assert (shipper.full_name, shipper.phone) == ("Anna Neu", "+49 30 999")


def test_patch_me_ignores_read_only_fields(shipper_client, shipper):
    # when
    response = shipper_client.patch(
        ME, {"email": "evil@example.com", "is_courier": True, "full_name": "Anna"}
    )

    # then
    assert response.status_code == 200, response.content
    shipper.refresh_from_db()
    assert shipper.email != "evil@example.com"
    assert not shipper.is_courier
    assert shipper.full_name == "Anna"


def test_a_user_with_both_roles_may_drop_the_shipper_role(db):
    # given
    courier = CourierFactory(is_shipper=True)
    client = APIClient()
    client.force_authenticate(courier)

    # when
    response = client.patch(ME, {"is_shipper": False})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == ["courier"]
    courier.refresh_from_db()
    assert not courier.is_shipper


def test_patch_me_cannot_drop_the_last_role(shipper_client, shipper):
    # when
    response = shipper_client.patch(ME, {"is_shipper": False, "full_name": "Changed Name"})

    # then
    assert_error(response, 400, code="no_role")
    fresh = User.objects.get(pk=shipper.pk)
    assert fresh.is_shipper
    assert fresh.full_name == shipper.full_name


def test_patch_me_with_a_too_long_name_names_the_field(shipper_client, shipper):
    # when
    response = shipper_client.patch(ME, {"full_name": "x" * 151})

    # then
    error = assert_error(response, 400, code="invalid")
    assert "full_name" in error["fields"]
    assert User.objects.get(pk=shipper.pk).full_name == shipper.full_name


def test_get_courier_profile_without_one_is_400(shipper_client, shipper):
    # when
    response = shipper_client.get(PROFILE)

    # then
    assert_error(response, 400, code="no_courier_profile")


def test_put_courier_profile_creates_it_with_the_vehicle_defaults(shipper_client, shipper):
    # when
    response = shipper_client.put(PROFILE, {"vehicle_type": "car"})

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "vehicle_type": "car",
        "max_size_class": "L",
        "max_weight_grams": 100_000,
        "corridor_m": 3_000,
        "verification_status": "pending",
        "verified_at": None,
    }
    shipper.refresh_from_db()
    assert shipper.is_courier and shipper.is_shipper
    assert shipper.courier_profile.vehicle_type == "car"
    assert shipper_client.get(PROFILE).json()["vehicle_type"] == "car"
    assert shipper_client.get(ME).json()["roles"] == ["shipper", "courier"]


def test_put_courier_profile_updates_it_with_explicit_capacity(shipper, shipper_client):
    # given
    courier_profile_upsert(user=shipper, vehicle_type="bike")

    # when
    response = shipper_client.put(
        PROFILE,
        {"vehicle_type": "cargo_bike", "max_size_class": "M", "max_weight_grams": 40_000},
    )

    # then
    assert response.status_code == 200, response.content
    profile = CourierProfile.objects.get(user=shipper)
    assert profile.vehicle_type == "cargo_bike"
    assert profile.max_size_class == "M"
    assert profile.max_weight_grams == 40_000
    assert profile.corridor_m == 1_500  # the cargo bike's default
    assert CourierProfile.objects.filter(user=shipper).count() == 1


def test_changing_the_vehicle_of_a_verified_courier_sends_them_back_to_review(
    courier_client, courier
):
    # when
    response = courier_client.put(PROFILE, {"vehicle_type": "van"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["verification_status"] == "pending"
    profile = CourierProfile.objects.get(user=courier)
    assert profile.verification_status == VerificationStatus.PENDING
    assert profile.verified_at is None


def test_put_courier_profile_with_bad_values_names_the_fields_and_changes_nothing(
    courier_client, courier
):
    # when
    response = courier_client.put(
        PROFILE, {"vehicle_type": "rocket", "max_size_class": "XXL", "corridor_m": 10}
    )

    # then
    error = assert_error(response, 400, code="invalid")
    assert {"vehicle_type", "max_size_class", "corridor_m"} <= set(error["fields"])
    profile = CourierProfile.objects.get(user=courier)
    assert (profile.vehicle_type, profile.max_size_class, profile.corridor_m) == ("bike", "M", 1000)
    assert profile.verification_status == VerificationStatus.VERIFIED
