"""Writes for users and courier profiles."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import (
    VEHICLE_DEFAULTS,
    CourierProfile,
    User,
    VerificationStatus,
)
from marketplace.core.exceptions import ApplicationError
from marketplace.core.languages import language_problem
from marketplace.core.timezones import zone_problem


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str = "",
    is_shipper: bool = True,
    is_courier: bool = False,
    vehicle_type: str | None = None,
    time_zone: str = "",
    language: str = "",
) -> User:
    email = User.objects.normalize_email(email).lower()
    if time_zone and (problem := zone_problem(time_zone)):
        raise ApplicationError(problem, code="invalid", fields={"time_zone": [problem]})
    if problem := language_problem(language):
        raise ApplicationError(problem, code="invalid", fields={"language": [problem]})
    if not (is_shipper or is_courier):
        raise ApplicationError(
            gettext("Choose at least one role: shipper or courier."), code="no_role"
        )
    if User.objects.filter(email__iexact=email).exists():
        raise ApplicationError(
            gettext("An account with this email already exists."), code="email_taken"
        )
    candidate = User(email=email, full_name=full_name, phone=phone)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), code="weak_password") from exc
    user = User.objects.create_user(
        email=email,
        password=password,
        full_name=full_name,
        phone=phone,
        is_shipper=is_shipper,
        is_courier=is_courier,
        time_zone=time_zone,
        language=language,
    )
    if is_courier:
        courier_profile_upsert(user=user, vehicle_type=vehicle_type or "bike")
    return user


@transaction.atomic
def user_update_profile(
    *,
    user: User,
    full_name: str,
    phone: str,
    is_shipper: bool,
    time_zone: str | None = None,
    language: str | None = None,
) -> User:
    """Change a user's name, phone, shipper role, time zone and language (None: kept; "": the
    operator's zone, the browser's language). An account keeps at least one role: a user who is
    not a courier cannot stop being a shipper."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    full_name, phone = full_name.strip(), phone.strip()
    errors: dict[str, list[str]] = {}
    if not full_name:
        errors["full_name"] = [gettext("Enter your name.")]
    elif len(full_name) > 150:
        errors["full_name"] = [gettext("The name may be at most 150 characters.")]
    if len(phone) > 32:
        errors["phone"] = [gettext("The phone number may be at most 32 characters.")]
    if time_zone and (problem := zone_problem(time_zone)):
        errors["time_zone"] = [problem]
    if language and (problem := language_problem(language)):
        errors["language"] = [problem]
    if errors:
        raise ApplicationError(
            gettext("The profile has invalid fields."), code="invalid", fields=errors
        )
    if not (is_shipper or locked.is_courier):
        raise ApplicationError(
            gettext("Keep at least one role: you are not a courier, so you stay a shipper."),
            code="no_role",
        )
    locked.full_name, locked.phone, locked.is_shipper = full_name, phone, is_shipper
    if time_zone is not None:
        locked.time_zone = time_zone
    if language is not None:
        locked.language = language
    locked.save(update_fields=["full_name", "phone", "is_shipper", "time_zone", "language"])
    user.full_name, user.phone, user.is_shipper = full_name, phone, is_shipper
    user.time_zone, user.language = locked.time_zone, locked.language
    return user


def user_set_language(*, user: User, language: str) -> User:
    """Store the language a person chose (the chooser in every page's footer)."""
    if problem := language_problem(language):
        raise ApplicationError(problem, code="invalid", fields={"language": [problem]})
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return user


@transaction.atomic
def courier_profile_upsert(
    *,
    user: User,
    vehicle_type: str,
    max_size_class: str | None = None,
    max_weight_grams: int | None = None,
    corridor_m: int | None = None,
) -> CourierProfile:
    """Create or change a courier's vehicle and capacity. Unset values take the vehicle's defaults.

    Changing the vehicle of a verified courier sends them back to review: the admin verified
    a particular vehicle.
    """
    if vehicle_type not in VEHICLE_DEFAULTS:
        raise ApplicationError(
            gettext("Unknown vehicle type '%(vehicle_type)s'.") % {"vehicle_type": vehicle_type},
            code="unknown_vehicle",
        )
    defaults = VEHICLE_DEFAULTS[vehicle_type]
    profile = CourierProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:
        profile = CourierProfile(user=user)
    elif profile.vehicle_type != vehicle_type and profile.is_verified:
        profile.verification_status = VerificationStatus.PENDING
        profile.verified_at = None
        profile.verified_by = None
    profile.vehicle_type = vehicle_type
    profile.max_size_class = max_size_class or defaults["max_size_class"]
    profile.max_weight_grams = max_weight_grams or defaults["max_weight_grams"]
    profile.corridor_m = corridor_m or defaults["corridor_m"]
    profile.full_clean(exclude=["user", "verified_by"])
    profile.save()
    if not user.is_courier:
        User.objects.filter(pk=user.pk).update(is_courier=True)
        user.is_courier = True
    return profile


@transaction.atomic
def courier_set_verification(
    *, profile: CourierProfile, status: str, admin: User, note: str = ""
) -> CourierProfile:
    if status not in VerificationStatus.values:
        raise ApplicationError(
            gettext("Unknown verification status '%(status)s'.") % {"status": status}
        )
    locked = CourierProfile.objects.select_for_update().get(pk=profile.pk)
    locked.verification_status = status
    locked.verified_at = timezone.now() if status == VerificationStatus.VERIFIED else None
    locked.verified_by = admin
    if note:
        locked.verification_note = note
    locked.save()
    return locked


def courier_reliability_penalise(*, courier: User) -> None:
    """The courier gave up an accepted parcel: COURIER_CANCEL_PENALTY points off (not below 0)."""
    CourierProfile.objects.filter(user=courier).update(
        reliability_score=Greatest(F("reliability_score") - settings.COURIER_CANCEL_PENALTY, 0)
    )
