"""Outbound webhooks to merchants: their endpoints, the events (an outbox written in the same
transaction as the state change), one delivery per event and endpoint, and every attempt."""

from __future__ import annotations

import secrets
import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import TimeStampedModel
from marketplace.merchants.models import KeyMode, Merchant
from marketplace.parcels.models import Parcel


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class EventType(models.TextChoices):
    PARCEL_STATUS_CHANGED = "parcel.status_changed", gettext_lazy("Parcel status changed")
    COURIER_ASSIGNED = "delivery.courier_assigned", gettext_lazy("Courier assigned")
    PICKED_UP = "delivery.picked_up", gettext_lazy("Picked up")
    DELIVERED = "delivery.delivered", gettext_lazy("Delivered")
    COURIER_POSITION = "delivery.courier_position", gettext_lazy("Courier position")
    FAILED = "delivery.failed", gettext_lazy("Delivery failed")
    RETURN_REQUESTED = "return.requested", gettext_lazy("Return requested")
    RETURN_APPROVED = "return.approved", gettext_lazy("Return approved")
    RETURN_REFUSED = "return.refused", gettext_lazy("Return refused")
    RETURN_COMPLETED = "return.completed", gettext_lazy("Return completed")
    RETURN_CANCELLED = "return.cancelled", gettext_lazy("Return called off")
    PAYMENT_SUCCEEDED = "payment.succeeded", gettext_lazy("Paid: held in escrow")
    PAYMENT_FAILED = "payment.failed", gettext_lazy("Card refused")
    PAYMENT_CANCELED = "payment.canceled", gettext_lazy("Payment cancelled")
    PAYMENT_RELEASED = "payment.released", gettext_lazy("Released to the courier")
    PAYMENT_PARTIALLY_REFUNDED = (
        "payment.partially_refunded",
        gettext_lazy("Refunded minus the fee"),
    )
    PAYMENT_REFUNDED = "payment.refunded", gettext_lazy("Refunded in full")
    PAYMENT_REVERSED = "payment.reversed", gettext_lazy("Released, then refunded")
    PAYMENT_DISPUTED = "payment.disputed", gettext_lazy("Disputed")
    PAYMENT_DISPUTE_LOST = "payment.dispute_lost", gettext_lazy("Dispute lost")
    TEST = "webhook.test", gettext_lazy("Test event")


class WebhookEndpoint(TimeStampedModel):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=80, default=new_secret)
    # Empty: every event type.
    event_types = ArrayField(
        models.CharField(max_length=40, choices=EventType.choices), default=list, blank=True
    )
    mode = models.CharField(max_length=4, choices=KeyMode.choices, default=KeyMode.LIVE)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["merchant_id", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.merchant})"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class ParcelSequence(models.Model):
    """The last sequence number given to a parcel's events (allocated by an upsert)."""

    parcel = models.OneToOneField(
        Parcel, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"parcel {self.parcel_id}: {self.last}"


class WebhookEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="events")
    parcel = models.ForeignKey(
        Parcel, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=40, choices=EventType.choices)
    # Per parcel, from 1, in the order the changes committed (0 for events of no parcel).
    sequence = models.PositiveIntegerField(default=0)
    livemode = models.BooleanField(default=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["parcel", "sequence"],
                condition=Q(parcel__isnull=False),
                name="webhook_event_parcel_sequence",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence} ({self.id})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    SUCCEEDED = "succeeded", gettext_lazy("Delivered")
    GAVE_UP = "gave_up", gettext_lazy("Given up")


class WebhookDelivery(TimeStampedModel):
    """One event for one endpoint: sent until a 2xx, with back-off, for HOOKS_RETRY_HOURS."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    # Set while a sender has it (hooks.sending): no other sends it until then.
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=Q(status="pending"),
            ),
            # The order check of every send: this endpoint's pending deliveries only (in flight
            # or backlog), never its whole history.
            models.Index(
                fields=["endpoint", "event"],
                name="webhook_delivery_pending",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.delivery_id}: {self.status_code or self.error}"
