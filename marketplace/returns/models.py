"""Returns: a delivered (or undeliverable) parcel sent back to its sender as a reverse parcel.

The reverse parcel is an ordinary Parcel (is_return=True) priced, paid and matched like any
other; a ParcelReturn links it to the original and carries the why, who and the decision.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import AuditEvent, TimeStampedModel


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", gettext_lazy("Requested (waiting for the shipper's approval)")
    APPROVED = "approved", gettext_lazy("Approved (on its way back)")
    COMPLETED = "completed", gettext_lazy("Back with the sender")
    REFUSED = "refused", gettext_lazy("Refused")
    CANCELLED = "cancelled", gettext_lazy("Called off")


R = ReturnStatus
RETURN_TRANSITIONS: dict[str, frozenset[str]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REFUSED, R.CANCELLED}),
    R.APPROVED: frozenset({R.COMPLETED, R.REFUSED, R.CANCELLED}),
    R.COMPLETED: frozenset(),
    R.REFUSED: frozenset(),
    R.CANCELLED: frozenset(),
}
# A parcel has at most one of these at a time; after a refusal or a cancellation it may be asked
# again (within the window).
LIVE_STATUSES = frozenset({R.REQUESTED, R.APPROVED, R.COMPLETED})


class ReturnReason(models.TextChoices):
    DAMAGED = "damaged", gettext_lazy("Arrived damaged")
    WRONG_ITEM = "wrong_item", gettext_lazy("Wrong item")
    NOT_WANTED = "not_wanted", gettext_lazy("No longer wanted")
    REFUSED_BY_RECIPIENT = "refused", gettext_lazy("Refused by the recipient")
    UNDELIVERABLE = "undeliverable", gettext_lazy("Could not be delivered")
    OTHER = "other", gettext_lazy("Other")


class RequestedBy(models.TextChoices):
    SHIPPER = "shipper", gettext_lazy("Shipper")
    RECIPIENT = "recipient", gettext_lazy("Recipient (tracking link)")
    COURIER = "courier", gettext_lazy("Courier (failed delivery)")
    ADMIN = "admin", gettext_lazy("Admin")


class ParcelReturn(TimeStampedModel):
    original = models.ForeignKey("parcels.Parcel", on_delete=models.PROTECT, related_name="returns")
    reverse = models.OneToOneField(
        "parcels.Parcel", on_delete=models.PROTECT, related_name="return_for"
    )
    status = models.CharField(max_length=10, choices=ReturnStatus.choices, db_index=True)
    requested_by = models.CharField(max_length=10, choices=RequestedBy.choices)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the recipient asked through the tracking link.",
    )
    reason_code = models.CharField(max_length=15, choices=ReturnReason.choices)
    reason = models.CharField(max_length=1000, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.CharField(max_length=500, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who pays the way back (settings.RETURN_FEE_PAYER when it was asked).
    paid_by = models.CharField(max_length=10, default="shipper")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["original"],
                condition=Q(status__in=sorted(LIVE_STATUSES)),
                name="return_one_live_per_parcel",
            ),
            models.CheckConstraint(
                condition=~Q(original=models.F("reverse")), name="return_not_its_own"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReturnStatus.values), name="return_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Return of parcel #{self.original_id} ({self.status})"


class ReturnPhoto(models.Model):
    parcel_return = models.ForeignKey(ParcelReturn, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to="returns/%Y/%m/")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Photo {self.pk} of return {self.parcel_return_id}"


class ReturnEvent(AuditEvent):
    """One row per status change of a return (the reverse parcel has its own ParcelEvents)."""

    parcel_return = models.ForeignKey(ParcelReturn, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=ReturnStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=ReturnStatus.choices)

    subject = "parcel_return"
