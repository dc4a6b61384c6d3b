"""Parcels posted by shippers, their status machine and audit trail."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import AuditEvent, TimeStampedModel
from marketplace.core.sizes import SIZE_DIMENSIONS_CM, SizeClass
from marketplace.core.spatial import mercator_copy, time_range
from marketplace.merchants.models import Merchant


class ParcelStatus(models.TextChoices):
    DRAFT = "draft", gettext_lazy("Draft")
    OPEN = "open", gettext_lazy("Open for couriers")
    MATCHED = "matched", gettext_lazy("Courier assigned")
    PICKED_UP = "picked_up", gettext_lazy("Picked up")
    IN_TRANSIT = "in_transit", gettext_lazy("In transit")
    DELIVERED = "delivered", gettext_lazy("Delivered")
    DELIVERY_FAILED = "delivery_failed", gettext_lazy("Delivery attempt failed")
    RETURNING = "returning", gettext_lazy("Returning to sender")
    RETURNED = "returned", gettext_lazy("Returned to sender")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")
    EXPIRED = "expired", gettext_lazy("Expired without a courier")


S = ParcelStatus
# The only status moves there are. Anything else is refused and changes nothing.
PARCEL_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.OPEN, S.CANCELLED}),
    S.OPEN: frozenset({S.MATCHED, S.CANCELLED, S.EXPIRED}),
    # A courier who withdraws before pickup sends the parcel back to matching (open).
    S.MATCHED: frozenset({S.PICKED_UP, S.OPEN, S.CANCELLED, S.EXPIRED}),
    S.PICKED_UP: frozenset({S.IN_TRANSIT, S.DELIVERY_FAILED}),
    S.IN_TRANSIT: frozenset({S.DELIVERED, S.DELIVERY_FAILED}),
    # After a failed attempt: try again, hand to another courier, or send it back.
    S.DELIVERY_FAILED: frozenset({S.IN_TRANSIT, S.OPEN, S.RETURNING}),
    # A return (marketplace.returns) is on its way back; if it is called off, the parcel is
    # where it was before.
    S.RETURNING: frozenset({S.RETURNED, S.DELIVERED, S.DELIVERY_FAILED}),
    S.DELIVERED: frozenset({S.RETURNING}),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
# The shipper may still edit or cancel the parcel in these.
EDITABLE_STATUSES = frozenset({S.DRAFT, S.OPEN})
FINAL_STATUSES = frozenset(k for k, v in PARCEL_TRANSITIONS.items() if not v)


class SandboxOutcome(models.TextChoices):
    """What the sandbox's simulated courier does with a test parcel (empty: delivered)."""

    DELIVERED = "delivered", gettext_lazy("Delivered")
    FAILED = "failed", gettext_lazy("Delivery fails")
    RETURNED = "returned", gettext_lazy("Fails, then returned")


class Parcel(TimeStampedModel):
    shipper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="parcels"
    )
    status = models.CharField(
        max_length=20, choices=ParcelStatus.choices, default=ParcelStatus.DRAFT, db_index=True
    )
    description = models.CharField(max_length=200)
    size_class = models.CharField(max_length=2, choices=SizeClass.choices)
    weight_grams = models.PositiveIntegerField()
    declared_value = models.PositiveIntegerField(help_text="Minor units of `currency`.")
    photo = models.ImageField(upload_to="parcels/%Y/%m/", blank=True)

    pickup_point = gis_models.PointField(srid=4326)
    pickup_address = models.CharField(max_length=300)
    pickup_contact_name = models.CharField(max_length=150)
    pickup_contact_phone = models.CharField(max_length=32)
    pickup_window_start = models.DateTimeField()
    pickup_window_end = models.DateTimeField()

    dropoff_point = gis_models.PointField(srid=4326)
    dropoff_address = models.CharField(max_length=300)
    dropoff_contact_name = models.CharField(max_length=150)
    dropoff_contact_phone = models.CharField(max_length=32)
    delivery_window_start = models.DateTimeField()
    delivery_window_end = models.DateTimeField()

    # Matching copies (see marketplace.core.spatial).
    pickup_merc = mercator_copy("pickup_point", gis_models.PointField)
    dropoff_merc = mercator_copy("dropoff_point", gis_models.PointField)
    # From the first possible pickup to the last possible drop-off: what a trip must overlap.
    match_range = time_range("pickup_window_start", "delivery_window_end")

    # The accepted quote: price = platform fee + courier share, all in minor units of currency.
    currency = models.CharField(max_length=3)
    distance_m = models.PositiveIntegerField()
    price_total = models.PositiveIntegerField()
    platform_fee = models.PositiveIntegerField()
    courier_share = models.PositiveIntegerField()

    published_at = models.DateTimeField(null=True, blank=True)
    # A reverse parcel: the way back of another (see marketplace.returns). Offered like any other.
    is_return = models.BooleanField(default=False, db_default=False, editable=False)

    # Posted by a merchant's system (marketplace.merchants); its own order number, unique per
    # merchant. A test-mode parcel (made with a test key) is never offered to real couriers: a
    # simulated courier walks it through the lifecycle (see the sandbox).
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="parcels"
    )
    external_reference = models.CharField(max_length=100, blank=True, default="", db_default="")
    is_test = models.BooleanField(default=False, db_default=False)
    sandbox_outcome = models.CharField(
        max_length=10, choices=SandboxOutcome.choices, blank=True, default="", db_default=""
    )

    # Delivery options, shown to couriers in their offers and enforced at delivery.
    leave_at_door = models.BooleanField(
        default=False, db_default=False, help_text="No one needs to be in; photo."
    )
    signature_required = models.BooleanField(default=False, db_default=False)
    pin_required = models.BooleanField(
        default=True, db_default=True, help_text="The recipient gives the delivery code."
    )
    minimum_age = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The courier checks the recipient's ID."
    )
    fragile = models.BooleanField(default=False, db_default=False)
    prohibited_items_declared = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The shipper declared that it holds no prohibited item.",
    )
    # Who receives it: e-mailed the tracking link (in their language when given).
    recipient_email = models.EmailField(blank=True, default="", db_default="")
    recipient_language = models.CharField(max_length=10, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            GistIndex(fields=["pickup_merc"], name="parcel_pickup_merc_gist"),
            GistIndex(fields=["dropoff_merc"], name="parcel_dropoff_merc_gist"),
            # The trip -> parcels matching probes only open parcels, by place and time at once.
            GistIndex(
                fields=["pickup_merc", "match_range"],
                name="parcel_open_pickup_time_gist",
                condition=Q(status="open"),
            ),
            # ... and the same for drop-offs (both probes are intersected).
            GistIndex(
                fields=["dropoff_merc", "match_range"],
                name="parcel_open_dropoff_time_gist",
                condition=Q(status="open"),
            ),
            models.Index(fields=["shipper", "-created_at"], name="parcel_shipper_created"),
            models.Index(
                fields=["merchant", "-created_at"],
                name="parcel_merchant_created",
                condition=Q(merchant__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pickup_window_end__gt=F("pickup_window_start")),
                name="parcel_pickup_window_order",
            ),
            models.CheckConstraint(
                condition=Q(delivery_window_end__gt=F("delivery_window_start")),
                name="parcel_delivery_window_order",
            ),
            models.CheckConstraint(
                condition=Q(delivery_window_end__gt=F("pickup_window_start")),
                name="parcel_delivery_after_pickup",
            ),
            models.CheckConstraint(condition=Q(weight_grams__gt=0), name="parcel_weight_positive"),
            models.CheckConstraint(
                condition=Q(price_total=F("platform_fee") + F("courier_share")),
                name="parcel_price_split",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ParcelStatus.values), name="parcel_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(size_class__in=SizeClass.values), name="parcel_size_class_valid"
            ),
            models.UniqueConstraint(
                fields=["merchant", "external_reference"],
                condition=Q(merchant__isnull=False) & ~Q(external_reference=""),
                name="parcel_external_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(minimum_age__isnull=True) | Q(minimum_age__range=(1, 99)),
                name="parcel_minimum_age_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Parcel #{self.pk}: {self.description}"

    @property
    def dimensions_cm(self) -> tuple[int, int, int]:
        return SIZE_DIMENSIONS_CM[self.size_class]

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class ParcelEvent(AuditEvent):
    """One row per status change: who moved the parcel, from where to where, and why."""

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, choices=ParcelStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ParcelStatus.choices)

    subject = "parcel"

    class Meta(AuditEvent.Meta):
        indexes = [models.Index(fields=["parcel", "created_at"], name="parcel_event_parcel_time")]


class HeldQuote(TimeStampedModel):
    """A price promised until `expires_at` (QUOTE_VALIDITY_MINUTES): a delivery created with this
    quote's id within that time, for the same points, size and weight, pays exactly this price.
    Used at most once (`parcel`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.CASCADE, related_name="quotes"
    )
    pickup_point = gis_models.PointField(srid=4326)
    dropoff_point = gis_models.PointField(srid=4326)
    size_class = models.CharField(max_length=2, choices=SizeClass.choices)
    weight_grams = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    distance_m = models.PositiveIntegerField()
    price_total = models.PositiveIntegerField()
    platform_fee = models.PositiveIntegerField()
    courier_share = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)
    parcel = models.OneToOneField(
        Parcel, null=True, blank=True, on_delete=models.SET_NULL, related_name="held_quote"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_total=F("platform_fee") + F("courier_share")),
                name="held_quote_price_split",
            ),
        ]

    def __str__(self) -> str:
        return f"Quote {self.id} ({self.price_total} {self.currency})"
