"""A delivery: one parcel carried by one courier on one trip, from assignment to hand-over."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import AuditEvent, TimeStampedModel


class DeliveryStatus(models.TextChoices):
    ASSIGNED = "assigned", gettext_lazy("Courier assigned")
    PICKED_UP = "picked_up", gettext_lazy("Picked up")
    IN_TRANSIT = "in_transit", gettext_lazy("In transit")
    DELIVERED = "delivered", gettext_lazy("Delivered")
    FAILED = "failed", gettext_lazy("Delivery attempt failed")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")
    REASSIGNED = "reassigned", gettext_lazy("Handed back to matching")
    RETURNED = "returned", gettext_lazy("Sent back to the sender")


D = DeliveryStatus
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    D.ASSIGNED: frozenset({D.PICKED_UP, D.CANCELLED}),
    D.PICKED_UP: frozenset({D.IN_TRANSIT, D.FAILED}),
    D.IN_TRANSIT: frozenset({D.DELIVERED, D.FAILED}),
    # After a failed attempt: try again (reschedule), hand the parcel back to matching, or send
    # it back to the sender (a reverse parcel, see marketplace.returns).
    D.FAILED: frozenset({D.IN_TRANSIT, D.REASSIGNED, D.RETURNED}),
    D.DELIVERED: frozenset(),
    D.CANCELLED: frozenset(),
    D.REASSIGNED: frozenset(),
    D.RETURNED: frozenset(),
}
ACTIVE_STATUSES = frozenset({D.ASSIGNED, D.PICKED_UP, D.IN_TRANSIT, D.FAILED})
# Statuses in which the courier carries (or has reserved room for) the parcel.
HOLDS_CAPACITY = ACTIVE_STATUSES


class CancelledBy(models.TextChoices):
    SHIPPER = "shipper", gettext_lazy("Shipper")
    COURIER = "courier", gettext_lazy("Courier")
    ADMIN = "admin", gettext_lazy("Admin")


class Delivery(TimeStampedModel):
    parcel = models.ForeignKey(
        "parcels.Parcel", on_delete=models.PROTECT, related_name="deliveries"
    )
    trip = models.ForeignKey("trips.Trip", on_delete=models.PROTECT, related_name="deliveries")
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deliveries"
    )
    offer = models.OneToOneField(
        "matching.Offer", on_delete=models.PROTECT, related_name="delivery"
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=D.ASSIGNED, db_index=True
    )
    # The shipper hands the pickup code to the courier; the recipient holds the delivery code.
    pickup_code = models.CharField(max_length=6)
    delivery_code = models.CharField(max_length=6)
    pickup_code_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_code_attempts = models.PositiveSmallIntegerField(default=0)

    pickup_position_m = models.PositiveIntegerField()
    dropoff_position_m = models.PositiveIntegerField()
    detour_m = models.PositiveIntegerField()
    predicted_pickup_at = models.DateTimeField()
    predicted_dropoff_at = models.DateTimeField()
    co2_saved_grams = models.IntegerField(help_text="Against a dedicated van trip; see README.")

    picked_up_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    proof_photo = models.ImageField(upload_to="proofs/%Y/%m/", blank=True)
    signature_image = models.ImageField(upload_to="signatures/%Y/%m/", blank=True)
    left_at_door = models.BooleanField(
        default=False, db_default=False, help_text="Left at the door with a photo, no code."
    )
    id_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the courier checked the recipient's age ID."
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    cancelled_by = models.CharField(max_length=8, choices=CancelledBy.choices, blank=True)
    cancellation_fee = models.PositiveIntegerField(
        default=0, help_text="Minor units kept from the shipper's payment (courier was on the way)."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["parcel"],
                condition=Q(status__in=["assigned", "picked_up", "in_transit", "failed"]),
                name="delivery_one_active_per_parcel",
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["trip", "status"], name="delivery_trip_status"),
            models.Index(fields=["courier", "status"], name="delivery_courier_status"),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} of parcel {self.parcel_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class DeliveryEvent(AuditEvent):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=DeliveryStatus.choices)

    subject = "delivery"


class Rating(TimeStampedModel):
    """After delivery, shipper and courier rate each other once."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ratee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings_received"
    )
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "rater"], name="rating_once_per_side"),
            models.CheckConstraint(
                condition=Q(stars__gte=1, stars__lte=5), name="rating_stars_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars}* for {self.ratee_id} on delivery {self.delivery_id}"
