"""Users log in with their email. One person may be a shipper, a courier, or both; admins are
staff. A courier's vehicle, capacity and verification live in CourierProfile."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from marketplace.core.models import TimeStampedModel
from marketplace.core.sizes import SizeClass


class VehicleType(models.TextChoices):
    FOOT = "foot", gettext_lazy("On foot / public transport")
    BIKE = "bike", gettext_lazy("Bicycle")
    CARGO_BIKE = "cargo_bike", gettext_lazy("Cargo bike")
    CAR = "car", gettext_lazy("Car")
    VAN = "van", gettext_lazy("Van")


# What each vehicle takes by default, the corridor (metres from the route) a courier accepts, and
# the average door-to-door urban speed used for time estimates.
VEHICLE_DEFAULTS: dict[str, dict[str, Any]] = {
    VehicleType.FOOT: {
        "max_size_class": SizeClass.S,
        "max_weight_grams": 5_000,
        "corridor_m": 300,
        "speed_kmh": 12,  # walking plus public transport
    },
    VehicleType.BIKE: {
        "max_size_class": SizeClass.M,
        "max_weight_grams": 10_000,
        "corridor_m": 1_000,
        "speed_kmh": 15,
    },
    VehicleType.CARGO_BIKE: {
        "max_size_class": SizeClass.L,
        "max_weight_grams": 60_000,
        "corridor_m": 1_500,
        "speed_kmh": 13,
    },
    VehicleType.CAR: {
        "max_size_class": SizeClass.L,
        "max_weight_grams": 100_000,
        "corridor_m": 3_000,
        "speed_kmh": 25,
    },
    VehicleType.VAN: {
        "max_size_class": SizeClass.XL,
        "max_weight_grams": 500_000,
        "corridor_m": 5_000,
        "speed_kmh": 22,
    },
}


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150)
    phone = models.CharField(max_length=32, blank=True)
    is_shipper = models.BooleanField(default=True, help_text="Can post parcels.")
    is_courier = models.BooleanField(default=False, help_text="Can post trips and carry parcels.")
    is_staff = models.BooleanField(default=False, help_text="Can log in to the admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="IANA name (Europe/Berlin) of the zone times are shown in; empty: the "
        "operator's (TIME_ZONE).",
    )
    language = models.CharField(
        max_length=8,
        blank=True,
        default="",
        db_default="",
        help_text="Language code (de, fr) of pages, e-mails and push texts; empty: the "
        "browser's, then the operator's (LANGUAGE_CODE).",
    )
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person's account was erased: personal fields were blanked or "
        "anonymised and the account can no longer log in.",
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def roles(self) -> list[str]:
        return [
            role
            for role, has in (
                ("shipper", self.is_shipper),
                ("courier", self.is_courier),
                ("admin", self.is_staff),
            )
            if has
        ]


class VerificationStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending review")
    VERIFIED = "verified", gettext_lazy("Verified")
    REJECTED = "rejected", gettext_lazy("Rejected")
    SUSPENDED = "suspended", gettext_lazy("Suspended")


class CourierProfile(TimeStampedModel):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="courier_profile")
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices)
    max_size_class = models.CharField(max_length=2, choices=SizeClass.choices)
    max_weight_grams = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    corridor_m = models.PositiveIntegerField(
        validators=[MinValueValidator(50), MaxValueValidator(20_000)],
        help_text="How far from the route the courier will go for a pickup or drop-off (metres).",
    )
    verification_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.PENDING
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_note = models.TextField(blank=True)
    # 100 = perfect; drops when the courier gives up an accepted parcel before pickup.
    reliability_score = models.PositiveSmallIntegerField(
        default=100, validators=[MaxValueValidator(100)]
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_weight_grams__gt=0), name="courier_weight_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(corridor_m__gte=50, corridor_m__lte=20_000),
                name="courier_corridor_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} ({self.get_vehicle_type_display()})"

    @property
    def is_verified(self) -> bool:
        return self.verification_status == VerificationStatus.VERIFIED
