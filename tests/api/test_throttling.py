"""The auth endpoints are rate limited per client; past the limit they answer 429."""

import pytest
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from marketplace.accounts.models import User
from tests.api.payloads import assert_error
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def tight_auth_rate(settings, monkeypatch):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min", "auth": "3/min"},
    }
    # DRF copies the rates onto the throttle class when it is imported; point it at the
    # overridden settings (monkeypatch puts the import-time rates back afterwards).
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
    assert SimpleRateThrottle.THROTTLE_RATES["auth"] == "3/min"
    cache.clear()
    yield
    cache.clear()


def test_login_is_throttled_after_the_limit(api_client, shipper, tight_auth_rate):
    # given
    for _ in range(3):
        response = api_client.post(TOKEN, {"email": shipper.email, "password": "wrong-pass-1"})
        assert response.status_code == 401

    # when
    response = api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD})

    # then
    error = assert_error(response, 429, code="throttled")
    assert "throttled" in error["message"].lower()
    assert int(response["Retry-After"]) > 0
    assert "access" not in response.json()


def test_register_is_throttled_and_the_refused_request_creates_nothing(api_client, tight_auth_rate):
    # given
    for n in range(3):
        body = {"email": f"u{n}@example.com", "password": PASSWORD, "full_name": "U"}
        assert api_client.post("/api/v1/auth/register/", body).status_code == 201

    # when
    response = api_client.post(
        "/api/v1/auth/register/",
        {"email": "late@example.com", "password": PASSWORD, "full_name": "Late"},
    )

    # then
    assert_error(response, 429, code="throttled")
    assert not User.objects.filter(email="late@example.com").exists()


def test_the_limit_is_per_client_address(api_client, shipper, tight_auth_rate):
    # given: one address used up its logins
    for _ in range(3):
        api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD})
    assert api_client.post(TOKEN, {"email": shipper.email, "password": PASSWORD}).status_code == 429

    # when another address logs in
    response = api_client.post(
        TOKEN, {"email": shipper.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.2"
    )

    # then
    assert response.status_code == 200


def test_other_endpoints_are_not_limited_by_the_auth_rate(shipper_client, tight_auth_rate):
    # when
    statuses = {shipper_client.get("/api/v1/me/").status_code for _ in range(6)}

    # then
    assert statuses == {200}
