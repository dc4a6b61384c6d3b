"""Merchants: shops and warehouses whose own systems create deliveries.

A merchant has members (owner, staff) who are shippers on the web site, pickup locations reused
by id, a billing mode, and server-to-server API keys (live and test). Replies to `Idempotency-Key`
requests are kept in IdempotencyRecord; CSV uploads from the web site in BulkUpload.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy
from rest_framework_api_key.models import AbstractAPIKey

from marketplace.core.models import TimeStampedModel


class BillingMode(models.TextChoices):
    # A saved Stripe PaymentMethod is charged off-session per delivery, into the same escrow.
    CARD = "card", "Card on file"
    # Deliveries open without a payment; the operator invoices monthly.
    INVOICE = "invoice", "Monthly invoice"


class Merchant(TimeStampedModel):
    name = models.CharField(max_length=150)
    contact_email = models.EmailField()
    billing_mode = models.CharField(
        max_length=8, choices=BillingMode.choices, default=BillingMode.CARD
    )
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    stripe_payment_method_id = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(billing_mode__in=BillingMode.values), name="merchant_billing_mode_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def payments_required(self) -> bool:
        """Whether this merchant's deliveries are paid into escrow before they open."""
        return self.billing_mode == BillingMode.CARD and settings.PAYMENTS_REQUIRED


class MemberRole(models.TextChoices):
    OWNER = "owner", "Owner"
    STAFF = "staff", "Staff"


class MerchantMember(TimeStampedModel):
    """A shipper who acts for a merchant. One person belongs to one merchant at most."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="members")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_membership"
    )
    role = models.CharField(max_length=8, choices=MemberRole.choices, default=MemberRole.STAFF)

    class Meta:
        ordering = ["merchant_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=MemberRole.values), name="merchant_member_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.merchant})"

    @property
    def is_owner(self) -> bool:
        return self.role == MemberRole.OWNER


class PickupLocation(TimeStampedModel):
    """A store or warehouse a merchant ships from, reused by id when creating deliveries."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="locations")
    name = models.CharField(max_length=100)
    point = gis_models.PointField(srid=4326)
    address = models.CharField(max_length=300)
    contact_name = models.CharField(max_length=150)
    contact_phone = models.CharField(max_length=32)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["merchant_id", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.merchant})"


class KeyScope(models.TextChoices):
    READ = "read", gettext_lazy("Read")
    WRITE = "write", gettext_lazy("Read and write")


class KeyMode(models.TextChoices):
    LIVE = "live", gettext_lazy("Live")
    # Deliveries made with a test key are never offered to real couriers (see the sandbox).
    TEST = "test", gettext_lazy("Test")


class MerchantApiKey(AbstractAPIKey):
    """A server-to-server key (djangorestframework-api-key: prefixed, stored hashed, revocable).

    The full key is shown once as `wp_<mode>_<prefix>.<secret>`; only its hash is kept."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    scope = models.CharField(max_length=5, choices=KeyScope.choices, default=KeyScope.WRITE)
    mode = models.CharField(max_length=4, choices=KeyMode.choices, default=KeyMode.LIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "merchant API key"
        verbose_name_plural = "merchant API keys"
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=KeyScope.values), name="api_key_scope_valid"
            ),
            models.CheckConstraint(condition=Q(mode__in=KeyMode.values), name="api_key_mode_valid"),
        ]

    @property
    def is_test(self) -> bool:
        return self.mode == KeyMode.TEST

    @property
    def can_write(self) -> bool:
        return self.scope == KeyScope.WRITE


class IdempotencyRecord(models.Model):
    """The first reply to a request made with an `Idempotency-Key`, replayed for retries.

    The key is scoped to the merchant and the endpoint; `request_hash` is the hash of the method,
    path and body, so the same key with another body is refused (422 idempotency_key_reused).
    `response_status` is null while the first request is still being processed."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "scope", "key"], name="idempotency_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.scope}:{self.key}"


class BulkUploadStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting")
    RUNNING = "running", gettext_lazy("Creating deliveries")
    DONE = "done", gettext_lazy("Done")
    FAILED = "failed", gettext_lazy("Failed")


class BulkUpload(TimeStampedModel):
    """A CSV file of deliveries uploaded on the web site, created row by row by a Celery task.

    `results` holds one entry per row (created parcel id, or the row's field errors)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200)
    mode = models.CharField(max_length=4, choices=KeyMode.choices, default=KeyMode.LIVE)
    status = models.CharField(
        max_length=8, choices=BulkUploadStatus.choices, default=BulkUploadStatus.PENDING
    )
    rows = models.JSONField(default=list, help_text="The parsed rows, as uploaded.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=list)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.processed}/{self.total})"
