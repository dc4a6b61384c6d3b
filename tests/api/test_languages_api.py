"""API languages (issue 14, item 2): messages in the Accept-Language's language or the token
user's own, error codes unchanged; `language` on /me and at registration, validated."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from marketplace.accounts.models import User

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
REGISTER = "/api/v1/auth/register/"


def token_client(user: User, **headers: str) -> APIClient:
    client = APIClient(**headers)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def test_a_business_error_comes_in_french_with_the_same_code(shipper):
    # given: a shipper who is no courier, asking in French to drop the shipper role
    client = token_client(shipper, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")

    # when
    response = client.patch(ME, {"is_shipper": False}, format="json")
    english = token_client(shipper).patch(ME, {"is_shipper": False}, format="json")

    # then
    assert response.status_code == english.status_code == 400
    assert response.json()["error"]["code"] == english.json()["error"]["code"] == "no_role"
    assert response.json()["error"]["message"] == (
        "Gardez au moins un rôle : expéditeur ou coursier."
    )
    assert english.json()["error"]["message"] == "Keep at least one role: shipper or courier."
    assert response["Content-Language"] == "fr"
    shipper.refresh_from_db()
    assert shipper.is_shipper  # nothing changed


def test_the_token_users_own_language_wins(shipper):
    User.objects.filter(pk=shipper.pk).update(language="de")
    shipper.refresh_from_db()

    response = token_client(shipper, HTTP_ACCEPT_LANGUAGE="fr").patch(
        ME, {"is_shipper": False}, format="json"
    )

    assert response.json()["error"] == {
        "code": "no_role",
        "message": "Behalten Sie mindestens eine Rolle: Versender oder Kurier.",
    }


def test_validation_errors_and_drf_messages_are_translated(courier):
    response = token_client(courier, HTTP_ACCEPT_LANGUAGE="de").post(
        "/api/v1/trips/", {}, format="json"
    )

    body = response.json()["error"]
    assert response.status_code == 400 and body["code"] == "invalid"
    assert body["message"] == "Die Anfrage enthält ungültige Felder."
    assert body["fields"] == {"departure_earliest": ["Dieses Feld ist erforderlich."]}


def test_me_shows_and_changes_the_language(shipper):
    client = token_client(shipper)

    before = client.get(ME).json()
    changed = client.patch(ME, {"language": "fr"}, format="json")
    refused = client.patch(ME, {"language": "tlh"}, format="json")

    assert before["language"] == ""
    assert changed.status_code == 200 and changed.json()["language"] == "fr"
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid"
    # the user now reads French: the refusal says so in French
    assert error["fields"]["language"] == [
        "« tlh » n'est pas une langue de ce site ; choisissez parmi : en, de, fr."
    ]
    shipper.refresh_from_db()
    assert shipper.language == "fr"


def test_registration_takes_a_language_and_refuses_an_unknown_one():
    client = APIClient()
    account = {"password": "Wanderung-am-See-81", "full_name": "Dora"}

    made = client.post(REGISTER, {**account, "email": "dora@example.com", "language": "de"})
    refused = client.post(REGISTER, {**account, "email": "emil@example.com", "language": "xx"})

    assert made.status_code == 201 and made.json()["user"]["language"] == "de"
    assert User.objects.get(email="dora@example.com").language == "de"
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["language"] == [
        "'xx' is not a language of this site; choose one of: en, de, fr."
    ]
    assert not User.objects.filter(email="emil@example.com").exists()
