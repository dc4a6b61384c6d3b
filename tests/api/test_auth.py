"""Registration, JWT (obtain, refresh with rotation, logout), Bearer and session auth."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from tests.api.payloads import assert_error
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"


def registration(**overrides):
    body = {
        "email": "anna@example.com",
        "password": PASSWORD,
        "full_name": "Anna Sender",
        "phone": "+49 30 1111111",
    }
    body.update(overrides)
    return body


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_register_shipper_returns_the_user_and_a_token_pair(api_client):
    # when
    response = api_client.post(REGISTER, registration(), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["email"] == "anna@example.com"
    assert body["user"]["roles"] == ["shipper"]
    assert body["user"]["courier_profile"] is None
    assert "password" not in body["user"]
    assert body["tokens"]["access"] and body["tokens"]["refresh"]
    user = User.objects.get(email="anna@example.com")
    assert user.is_shipper and not user.is_courier
    assert user.check_password(PASSWORD)
    assert not CourierProfile.objects.filter(user=user).exists()


def test_register_normalises_the_email_to_lower_case(api_client):
    # when
    response = api_client.post(REGISTER, registration(email="Anna@EXAMPLE.com"), format="json")

    # then
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "anna@example.com"


def test_register_courier_with_a_vehicle_creates_a_profile_pending_verification(api_client):
    # when
    response = api_client.post(
        REGISTER,
        registration(is_shipper=False, is_courier=True, vehicle_type="car"),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    user_body = response.json()["user"]
    assert user_body["roles"] == ["courier"]
    assert user_body["courier_profile"]["vehicle_type"] == "car"
    assert user_body["courier_profile"]["verification_status"] == "pending"
    profile = CourierProfile.objects.get(user__email="anna@example.com")
    assert profile.vehicle_type == "car"
    assert profile.verification_status == VerificationStatus.PENDING
    assert profile.verified_at is None
    # the car's defaults
    assert (profile.max_size_class, profile.max_weight_grams, profile.corridor_m) == (
        "L",
        100_000,
        3_000,
    )


def test_register_courier_without_a_vehicle_gets_a_bike(api_client):
    # when
    response = api_client.post(
        REGISTER, registration(is_shipper=False, is_courier=True), format="json"
    )

    # then
    assert response.status_code == 201, response.content
    assert CourierProfile.objects.get(user__email="anna@example.com").vehicle_type == "bike"


def test_register_with_both_roles(api_client):
    # when
    response = api_client.post(
        REGISTER,
        registration(is_shipper=True, is_courier=True, vehicle_type="cargo_bike"),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    assert response.json()["user"]["roles"] == ["shipper", "courier"]
    user = User.objects.get(email="anna@example.com")
    assert user.is_shipper and user.is_courier
    assert user.courier_profile.vehicle_type == "cargo_bike"


def test_register_with_a_taken_email_is_refused_whatever_its_case(api_client):
    # given
    api_client.post(REGISTER, registration(), format="json")

    # when
    response = api_client.post(
        REGISTER, registration(email="ANNA@example.com", full_name="Someone Else"), format="json"
    )

    # then
    assert_error(response, 400, code="email_taken")
    assert User.objects.count() == 1
    assert User.objects.get().full_name == "Anna Sender"


def test_register_with_a_common_password_is_refused(api_client):
    # when
    response = api_client.post(REGISTER, registration(password="password"), format="json")

    # then
    error = assert_error(response, 400, code="weak_password")
    assert "common" in error["message"]
    assert not User.objects.exists()


def test_register_with_a_short_password_names_the_field(api_client):
    # when
    response = api_client.post(REGISTER, registration(password="x7!"), format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert "password" in error["fields"]
    assert not User.objects.exists()


def test_register_without_any_role_is_refused(api_client):
    # when
    response = api_client.post(
        REGISTER, registration(is_shipper=False, is_courier=False), format="json"
    )

    # then
    assert_error(response, 400, code="no_role")
    assert not User.objects.exists()


def test_register_with_an_unknown_vehicle_names_the_field(api_client):
    # when
    response = api_client.post(
        REGISTER, registration(is_courier=True, vehicle_type="rocket"), format="json"
    )

    # then
    error = assert_error(response, 400, code="invalid")
    assert "vehicle_type" in error["fields"]
    assert not User.objects.exists()


def test_register_with_missing_fields_names_each_of_them(api_client):
    # when
    response = api_client.post(REGISTER, {}, format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert {"email", "password", "full_name"} <= set(error["fields"])
    assert not User.objects.exists()


def test_register_tokens_work_at_once(api_client):
    # given
    tokens = api_client.post(REGISTER, registration(), format="json").json()["tokens"]

    # when
    response = bearer(tokens["access"]).get(ME)

    # then
    assert response.status_code == 200
    assert response.json()["email"] == "anna@example.com"


def test_obtain_a_token_pair_with_email_and_password(api_client, shipper):
    # when
    response = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD})

    # then
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    me = bearer(tokens["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == shipper.pk


def test_obtain_a_token_with_a_wrong_password_is_401(api_client, shipper):
    # when
    response = api_client.post(TOKEN, {"email": shipper.email, "password": "wrong-password-1"})

    # then
    assert_error(response, 401, code="no_active_account")
    assert "access" not in response.json()


def test_obtain_a_token_for_an_unknown_email_is_401(api_client, db):
    # when
    response = api_client.post(TOKEN, {"email": "nobody@example.com", "password": PASSWORD})

    # then
    assert_error(response, 401)


def test_refresh_rotates_and_the_old_refresh_token_is_blacklisted(api_client, shipper):
    # given
    first = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD}).json()

    # when
    response = api_client.post(REFRESH, {"refresh": first["refresh"]})

    # then
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert second["access"] != first["access"]
    assert bearer(second["access"]).get(ME).status_code == 200
    assert BlacklistedToken.objects.filter(token__token=first["refresh"]).exists()

    # when the old refresh token is used again
    reuse = api_client.post(REFRESH, {"refresh": first["refresh"]})

    # then
    error = assert_error(reuse, 401, code="token_not_valid")
    assert "blacklisted" in error["message"]
    # and the new one still works
    assert api_client.post(REFRESH, {"refresh": second["refresh"]}).status_code == 200


def test_refresh_with_garbage_is_401(api_client, db):
    # when
    response = api_client.post(REFRESH, {"refresh": "not-a-token"})

    # then
    assert_error(response, 401, code="token_not_valid")


def test_logout_blacklists_the_refresh_token(api_client, shipper):
    # given
    tokens = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD}).json()

    # when
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]})

    # then
    assert response.status_code == 200, response.content
    assert BlacklistedToken.objects.filter(token__token=tokens["refresh"]).exists()
    reuse = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert_error(reuse, 401, code="token_not_valid")


def test_access_with_a_bearer_token_works_for_a_list_endpoint(api_client, shipper):
    # given
    tokens = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD}).json()

    # when
    response = bearer(tokens["access"]).get("/api/v1/parcels/")

    # then
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_refresh_token_is_not_accepted_as_an_access_token(api_client, shipper):
    # given
    tokens = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD}).json()

    # when
    response = bearer(tokens["refresh"]).get(ME)

    # then
    assert_error(response, 401, code="token_not_valid")


def test_a_garbage_bearer_token_is_401_with_the_error_body(api_client, db):
    # when
    response = bearer("garbage").get(ME)

    # then
    assert_error(response, 401, code="token_not_valid")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ME),
        ("patch", ME),
        ("get", "/api/v1/me/courier-profile/"),
        ("get", "/api/v1/parcels/"),
        ("post", "/api/v1/parcels/"),
        ("post", "/api/v1/quotes/"),
        ("get", "/api/v1/courier/open-parcels/"),
        ("get", "/api/v1/trips/"),
        ("post", "/api/v1/trips/"),
    ],
)
def test_unauthenticated_requests_get_401_with_the_error_body(api_client, method, path):
    # when
    response = getattr(api_client, method)(path)

    # then
    error = assert_error(response, 401, code="not_authenticated")
    assert "credentials" in error["message"].lower()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_session_auth_works_too(api_client, shipper):
    # given
    assert api_client.login(email=shipper.email, password=PASSWORD)

    # when
    response = api_client.get(ME)

    # then
    assert response.status_code == 200
    assert response.json()["email"] == shipper.email


def test_session_auth_with_a_wrong_password_does_not_log_in(api_client, shipper):
    # when
    logged_in = api_client.login(email=shipper.email, password="wrong-password-1")

    # then
    assert not logged_in
    assert_error(api_client.get(ME), 401)
