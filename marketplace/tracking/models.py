"""Where the courier is while they carry a parcel: every accepted location ping (kept for
TRACKING_RETENTION_DAYS), the latest position with its ETA, and the recipient's public link."""

from __future__ import annotations

import secrets

from django.contrib.gis.db import models as gis_models
from django.db import models
from django.db.models import Q

from marketplace.deliveries.models import DeliveryStatus

# The only statuses in which the courier's position is recorded and shown: between the pickup
# and the hand-over. Never before pickup, never after delivery (or a failed attempt).
TRACKING_STATUSES = frozenset({DeliveryStatus.PICKED_UP, DeliveryStatus.IN_TRANSIT})


class LocationPing(models.Model):
    """One accepted position report from the courier's device."""

    delivery = models.ForeignKey(
        "deliveries.Delivery", on_delete=models.CASCADE, related_name="location_pings"
    )
    point = gis_models.PointField(srid=4326)
    accuracy_m = models.FloatField(help_text="Radius of 68 % confidence reported by the device.")
    speed_mps = models.FloatField(null=True, blank=True)
    heading_deg = models.FloatField(null=True, blank=True)
    device_time = models.DateTimeField(help_text="When the device took the position.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["delivery", "device_time"]
        constraints = [
            # Also the (delivery, device_time) index; a batch sent twice is stored once.
            models.UniqueConstraint(
                fields=["delivery", "device_time"], name="ping_once_per_device_time"
            ),
            models.CheckConstraint(condition=Q(accuracy_m__gte=0), name="ping_accuracy_positive"),
            models.CheckConstraint(
                condition=Q(speed_mps__isnull=True) | Q(speed_mps__gte=0),
                name="ping_speed_positive",
            ),
            models.CheckConstraint(
                condition=Q(heading_deg__isnull=True) | Q(heading_deg__gte=0, heading_deg__lt=360),
                name="ping_heading_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Ping of delivery {self.delivery_id} at {self.device_time:%Y-%m-%d %H:%M:%S}"


class LivePosition(models.Model):
    """The newest accepted position of a delivery's courier, and what follows from it."""

    delivery = models.OneToOneField(
        "deliveries.Delivery",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="live_position",
    )
    point = gis_models.PointField(srid=4326, null=True, blank=True)
    accuracy_m = models.FloatField(null=True, blank=True)
    speed_mps = models.FloatField(null=True, blank=True)
    heading_deg = models.FloatField(null=True, blank=True)
    device_time = models.DateTimeField(null=True, blank=True)
    remaining_m = models.PositiveIntegerField(
        null=True, blank=True, help_text="Metres left to the drop-off along the trip's route."
    )
    eta = models.DateTimeField(null=True, blank=True)
    # Set once, when the courier first comes within TRACKING_ARRIVING_M of the drop-off.
    arriving_notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When its last `delivery.courier_position` webhook event was recorded (tracking.publishing).
    published_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Live position of delivery {self.delivery_id}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TrackingLink(models.Model):
    """The recipient's link: an unguessable token that shows status, ETA and an area only."""

    delivery = models.OneToOneField(
        "deliveries.Delivery", on_delete=models.CASCADE, related_name="tracking_link"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Tracking link of delivery {self.delivery_id}"
