import pytest
from django.db import IntegrityError, transaction

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from marketplace.accounts.services import (
    courier_profile_upsert,
    courier_set_verification,
    user_register,
)
from marketplace.core.exceptions import ApplicationError
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase-7"


def test_register_shipper_logs_in_by_email_case_insensitively():
    user = user_register(email="Anna@Example.COM", password=PASSWORD, full_name="Anna")
    assert user.email == "anna@example.com"
    assert user.roles == ["shipper"]
    assert user.check_password(PASSWORD)
    assert not hasattr(user, "courier_profile") or user.courier_profile is None


def test_register_courier_creates_pending_profile_with_vehicle_defaults():
    user = user_register(
        email="c@example.com",
        password=PASSWORD,
        full_name="C",
        is_shipper=True,
        is_courier=True,
        vehicle_type="cargo_bike",
    )
    profile = user.courier_profile
    assert user.roles == ["shipper", "courier"]
    assert (profile.max_size_class, profile.max_weight_grams, profile.corridor_m) == (
        "L",
        60_000,
        1_500,
    )
    assert profile.verification_status == VerificationStatus.PENDING
    assert not profile.is_verified


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"password": "short"}, "weak_password"),
        ({"password": "password123"}, "weak_password"),
        ({"is_shipper": False, "is_courier": False}, "no_role"),
    ],
)
def test_register_refuses_bad_input_and_stores_nothing(kwargs, code):
    args = {"email": "x@example.com", "password": PASSWORD, "full_name": "X"} | kwargs
    with pytest.raises(ApplicationError) as excinfo:
        user_register(**args)
    assert excinfo.value.code == code
    assert not User.objects.exists()


def test_email_is_unique_whatever_the_case():
    user_register(email="dup@example.com", password=PASSWORD, full_name="A")
    with pytest.raises(ApplicationError, match="already exists"):
        user_register(email="DUP@example.com", password=PASSWORD, full_name="B")
    assert User.objects.count() == 1


def test_changing_vehicle_sends_a_verified_courier_back_to_review():
    admin = UserFactory(is_staff=True)
    user = UserFactory(is_courier=True)
    profile = courier_profile_upsert(user=user, vehicle_type="bike")
    courier_set_verification(profile=profile, status=VerificationStatus.VERIFIED, admin=admin)
    profile.refresh_from_db()
    assert profile.is_verified and profile.verified_by == admin and profile.verified_at

    profile = courier_profile_upsert(user=user, vehicle_type="van")
    assert profile.verification_status == VerificationStatus.PENDING
    assert profile.verified_at is None
    assert profile.max_size_class == "XL"


def test_profile_constraint_refuses_zero_weight():
    user = UserFactory(is_courier=True)
    profile = courier_profile_upsert(user=user, vehicle_type="bike")
    with pytest.raises(IntegrityError), transaction.atomic():
        CourierProfile.objects.filter(pk=profile.pk).update(max_weight_grams=0)


def test_superuser_is_staff():
    admin = User.objects.create_superuser(
        email="root@example.com", password=PASSWORD, full_name="R"
    )
    assert admin.is_staff and admin.is_superuser and "admin" in admin.roles
