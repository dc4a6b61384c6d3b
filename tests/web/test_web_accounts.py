"""Sign-up, login, logout and the profile page of the shipper site."""

import re

import pytest
from django.urls import reverse

from marketplace.accounts.models import CourierProfile, User
from marketplace.accounts.services import courier_set_verification, user_update_profile
from marketplace.core.exceptions import ApplicationError
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signup_data(**overrides):
    data = {
        "email": "new.shipper@example.com",
        "full_name": "Nora New",
        "phone": "+49 30 9999999",
        "password1": "a-Sturdy-passphrase-7",
        "password2": "a-Sturdy-passphrase-7",
        "is_shipper": "on",
        "vehicle_type": "bike",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- sign-up ---------------------------------------------------------------------------------


def test_signup_page_shows_the_form(client):
    response = client.get(reverse("web:signup"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "I want to send parcels" in html
    assert "I want to carry parcels (courier)" in html
    assert 'name="vehicle_type"' in html


def test_signup_creates_a_shipper_logs_in_and_goes_to_the_dashboard(client):
    response = client.post(reverse("web:signup"), signup_data(email="Nora.New@Example.com"))

    assert response.status_code == 302
    assert response.url == reverse("web:dashboard")
    user = User.objects.get()
    assert user.email == "nora.new@example.com"
    assert user.full_name == "Nora New"
    assert user.phone == "+49 30 9999999"
    assert user.is_shipper and not user.is_courier
    assert user.check_password("a-Sturdy-passphrase-7")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_signup_as_shipper_and_courier_creates_the_courier_profile(client):
    response = client.post(
        reverse("web:signup"), signup_data(is_courier="on", vehicle_type="cargo_bike")
    )

    assert response.status_code == 302
    user = User.objects.get()
    assert user.is_shipper and user.is_courier
    assert user.courier_profile.vehicle_type == "cargo_bike"
    assert user.courier_profile.verification_status == "pending"


def test_signup_as_courier_only_goes_to_the_profile(client):
    response = client.post(
        reverse("web:signup"), signup_data(is_shipper=None, is_courier="on", vehicle_type="van")
    )

    assert response.status_code == 302
    assert response.url == reverse("web:profile")
    assert not User.objects.get().is_shipper


def test_signup_with_a_taken_email_shows_the_error_on_the_email(client, alice):
    response = client.post(reverse("web:signup"), signup_data(email="ALICE@example.com"))

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["email"] == ["An account with this email already exists."]
    assert 'data-testid="error-email"' in response.content.decode()
    assert User.objects.count() == 1
    assert "_auth_user_id" not in client.session


def test_signup_with_a_weak_password_shows_the_error_on_the_password(client):
    response = client.post(reverse("web:signup"), signup_data(password1="12345", password2="12345"))

    assert response.status_code == 200
    errors = response.context["form"].errors["password1"]
    assert "too short" in errors[0]
    assert not User.objects.exists()
    # What was typed (except passwords) is kept.
    assert 'value="new.shipper@example.com"' in response.content.decode()


def test_signup_with_different_passwords_is_refused(client):
    response = client.post(reverse("web:signup"), signup_data(password2="something-else-123"))

    assert response.status_code == 200
    assert response.context["form"].errors["password2"] == ["The two passwords do not match."]
    assert not User.objects.exists()


def test_signup_without_a_role_is_refused(client):
    response = client.post(reverse("web:signup"), signup_data(is_shipper=None))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Choose at least one role: shipper or courier."
    ]
    assert 'data-testid="error-summary"' in response.content.decode()
    assert not User.objects.exists()


def test_signup_as_courier_needs_a_vehicle(client):
    response = client.post(reverse("web:signup"), signup_data(is_courier="on", vehicle_type=""))

    assert response.status_code == 200
    assert response.context["form"].errors["vehicle_type"] == ["Couriers need to choose a vehicle."]
    assert not User.objects.exists()


def test_signup_when_logged_in_goes_to_the_dashboard(alice_client):
    response = alice_client.get(reverse("web:signup"))

    assert response.status_code == 302
    assert response.url == reverse("web:dashboard")


# --- login and logout ------------------------------------------------------------------------


def test_login_with_email_and_password(client, alice):
    response = client.post(
        reverse("web:login"), {"username": "Alice@Example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.url == reverse("web:dashboard")
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_returns_to_the_page_asked_for(client, alice):
    wanted = reverse("web:parcel_create")
    response = client.post(
        f"{reverse('web:login')}?next={wanted}",
        {"username": "alice@example.com", "password": PASSWORD, "next": wanted},
    )

    assert response.status_code == 302
    assert response.url == wanted


def test_login_with_a_wrong_password_shows_an_error(client, alice):
    response = client.post(
        reverse("web:login"), {"username": "alice@example.com", "password": "wrong-one"}
    )

    assert response.status_code == 200
    assert "Wrong email or password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_pages_need_login(client):
    for name in ("web:dashboard", "web:parcel_create", "web:profile"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("web:login"))


def test_logout_is_a_post_and_goes_home(alice_client):
    assert alice_client.get(reverse("web:logout")).status_code == 405
    assert "_auth_user_id" in alice_client.session

    response = alice_client.post(reverse("web:logout"))

    assert response.status_code == 302
    assert response.url == reverse("web:home")
    assert "_auth_user_id" not in alice_client.session


def test_home_page_links_to_signup_and_login(client):
    response = client.get(reverse("web:home"))

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("web:signup") in html
    assert reverse("web:login") in html


def test_pages_load_nothing_from_other_sites(client, alice_client):
    for name in ("web:home", "web:dashboard", "web:parcel_create", "web:profile"):
        html = alice_client.get(reverse(name)).content.decode()
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', html), name


# --- profile ---------------------------------------------------------------------------------


def test_profile_shows_roles_and_saves_name_and_phone(alice_client, alice):
    response = alice_client.get(reverse("web:profile"))
    assert response.status_code == 200
    assert "Shipper" in response.content.decode()

    response = alice_client.post(
        reverse("web:profile"), {"full_name": "Alice Liddell", "phone": "+44 20 7946 0000"}
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.full_name == "Alice Liddell"
    assert alice.phone == "+44 20 7946 0000"


def test_profile_refuses_an_empty_name(alice_client, alice):
    response = alice_client.post(reverse("web:profile"), {"full_name": "", "phone": ""})

    assert response.status_code == 200
    assert "full_name" in response.context["form"].errors
    alice.refresh_from_db()
    assert alice.full_name == "Alice"


def test_profile_shows_the_courier_verification_status(client, carl, alice):
    client.force_login(carl)
    html = client.get(reverse("web:profile")).content.decode()
    assert "Pending review" in html
    assert "Car" in html

    admin = User.objects.create_superuser(email="admin@example.com", password="x", full_name="Ad")
    courier_set_verification(profile=carl.courier_profile, status="verified", admin=admin)

    html = client.get(reverse("web:profile")).content.decode()
    assert 'data-testid="verification-status">Verified<' in html


def test_a_courier_without_the_shipper_role_sees_a_clear_message(client, carl):
    client.force_login(carl)

    for name in ("web:dashboard", "web:parcel_create"):
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert "does not have the <strong>shipper</strong> role" in response.content.decode()


def test_a_courier_can_add_the_shipper_role_on_the_profile(client, carl):
    client.force_login(carl)

    response = client.post(
        reverse("web:profile"),
        {"full_name": "Carl", "phone": "", "is_shipper": "on"},
    )

    assert response.status_code == 302
    carl.refresh_from_db()
    assert carl.is_shipper and carl.is_courier
    assert CourierProfile.objects.filter(user=carl).exists()
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_a_courier_and_shipper_can_drop_the_shipper_role(client, carl):
    user_update_profile(user=carl, full_name="Carl", phone="", is_shipper=True)
    client.force_login(carl)
    assert 'name="is_shipper"' in client.get(reverse("web:profile")).content.decode()

    response = client.post(reverse("web:profile"), {"full_name": "Carl Courier", "phone": ""})

    assert response.status_code == 302
    carl.refresh_from_db()
    assert (carl.full_name, carl.is_shipper, carl.is_courier) == ("Carl Courier", False, True)
    assert client.get(reverse("web:dashboard")).status_code == 403


def test_a_shipper_who_is_not_a_courier_keeps_the_shipper_role(alice_client, alice):
    # The box is not offered: unticking it would leave the account without a role.
    html = alice_client.get(reverse("web:profile")).content.decode()
    assert 'name="is_shipper"' not in html

    response = alice_client.post(
        reverse("web:profile"), {"full_name": "Alice", "phone": "", "is_shipper": ""}
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_shipper


def test_the_profile_service_refuses_to_drop_the_last_role(alice):
    before = (alice.full_name, alice.phone, alice.is_shipper)

    with pytest.raises(ApplicationError) as exc:
        user_update_profile(user=alice, full_name="Someone Else", phone="", is_shipper=False)

    assert exc.value.code == "no_role"
    alice.refresh_from_db()
    assert (alice.full_name, alice.phone, alice.is_shipper) == before


def test_a_blank_name_is_refused_by_the_profile_service_too(alice):
    with pytest.raises(ApplicationError) as exc:
        user_update_profile(user=alice, full_name="   ", phone="", is_shipper=True)

    assert exc.value.fields == {"full_name": ["Enter your name."]}
    alice.refresh_from_db()
    assert alice.full_name == "Alice"
