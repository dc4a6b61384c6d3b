"""Escrow on Stripe Connect: payments, transfers to couriers, refunds, disputes, tips, the webhook
inbox and the double-entry ledger. Amounts are integer minor units."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import TimeStampedModel


class PaymentStatus(models.TextChoices):
    REQUIRES_PAYMENT = "requires_payment", gettext_lazy("Waiting for the card")
    FAILED = "failed", gettext_lazy("Card refused (can retry)")
    SUCCEEDED = "succeeded", gettext_lazy("Paid: held in escrow")
    RELEASED = "released", gettext_lazy("Released to the courier")
    PARTIALLY_REFUNDED = "partially_refunded", gettext_lazy("Refunded minus the cancellation fee")
    REFUNDED = "refunded", gettext_lazy("Refunded in full")
    REVERSED = "reversed", gettext_lazy("Released, then reversed and refunded")
    CANCELED = "canceled", gettext_lazy("Cancelled before payment")
    DISPUTED = "disputed", gettext_lazy("Disputed: money frozen")
    DISPUTE_LOST = "dispute_lost", gettext_lazy("Dispute lost")


P = PaymentStatus
# The escrow's allowed moves; anything else is refused and changes nothing.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    P.REQUIRES_PAYMENT: frozenset({P.SUCCEEDED, P.FAILED, P.CANCELED}),
    P.FAILED: frozenset({P.SUCCEEDED, P.REQUIRES_PAYMENT, P.FAILED, P.CANCELED}),
    P.SUCCEEDED: frozenset({P.RELEASED, P.REFUNDED, P.PARTIALLY_REFUNDED, P.DISPUTED}),
    P.PARTIALLY_REFUNDED: frozenset({P.RELEASED, P.DISPUTED}),
    P.RELEASED: frozenset({P.REVERSED, P.DISPUTED}),
    P.DISPUTED: frozenset(
        {P.SUCCEEDED, P.RELEASED, P.PARTIALLY_REFUNDED, P.REFUNDED, P.REVERSED, P.DISPUTE_LOST}
    ),
    P.REFUNDED: frozenset(),
    P.REVERSED: frozenset(),
    P.CANCELED: frozenset(),
    P.DISPUTE_LOST: frozenset(),
}


class Payment(TimeStampedModel):
    """The shipper's payment for one parcel: a PaymentIntent captured at once (see
    docs/payments.md)."""

    parcel = models.ForeignKey("parcels.Parcel", on_delete=models.PROTECT, related_name="payments")
    shipper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=P.REQUIRES_PAYMENT, db_index=True
    )
    status_before_dispute = models.CharField(max_length=20, blank=True)
    amount = models.PositiveIntegerField()
    platform_fee = models.PositiveIntegerField()
    courier_share = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_payment_intent_id = models.CharField(
        max_length=64,
        unique=True,
        help_text='Stripe\'s id; "platform-parcel-<id>" when the platform funds a return.',
    )
    client_secret = models.CharField(max_length=128)
    # A return the platform pays for (RETURN_FEE_PAYER="platform"): no card, no Stripe intent;
    # the courier's share comes out of platform revenue into escrow.
    funded_by_platform = models.BooleanField(default=False)
    stripe_charge_id = models.CharField(max_length=64, blank=True, db_index=True)
    amount_refunded = models.PositiveIntegerField(default=0)
    failure_message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["parcel"],
                condition=~Q(status__in=["failed", "canceled"]),
                name="payment_one_live_per_parcel",
            ),
            models.CheckConstraint(
                condition=Q(amount=models.F("platform_fee") + models.F("courier_share")),
                name="payment_split_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Payment {self.stripe_payment_intent_id} for parcel {self.parcel_id} ({self.status})"
        )

    @property
    def is_frozen(self) -> bool:
        return self.status == P.DISPUTED


class PaymentEvent(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.from_status or '-'} -> {self.to_status}"


class ConnectedAccount(TimeStampedModel):
    """A courier's Stripe Express account; `account.updated` keeps it current."""

    courier = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stripe_account"
    )
    stripe_account_id = models.CharField(max_length=64, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({'payouts on' if self.payouts_enabled else 'pending'})"


class BankPayoutStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    IN_TRANSIT = "in_transit", gettext_lazy("On its way to the bank")
    PAID = "paid", gettext_lazy("Paid into the bank account")
    FAILED = "failed", gettext_lazy("Failed")
    CANCELED = "canceled", gettext_lazy("Cancelled")


# Stripe moves a payout forward only, but a payout it reported paid can still fail (the bank
# sends it back): a status replaces one of a lower rank, never the other way round.
BANK_PAYOUT_RANK = {
    BankPayoutStatus.PENDING: 0,
    BankPayoutStatus.IN_TRANSIT: 1,
    BankPayoutStatus.PAID: 2,
    BankPayoutStatus.FAILED: 3,
    BankPayoutStatus.CANCELED: 3,
}


class BankPayout(TimeStampedModel):
    """A payout from a courier's connected account to their bank, made by Stripe on the
    account's schedule; `payout.*` Connect events keep it current."""

    account = models.ForeignKey(
        ConnectedAccount, on_delete=models.PROTECT, related_name="bank_payouts"
    )
    stripe_payout_id = models.CharField(max_length=64, unique=True)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=BankPayoutStatus.choices)
    arrival_date = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.stripe_payout_id} {self.amount} {self.currency} ({self.status})"


class TransferKind(models.TextChoices):
    RELEASE = "release", gettext_lazy("Courier's share on delivery")
    CANCELLATION_FEE = "cancellation_fee", gettext_lazy("Cancellation fee")
    TIP = "tip", gettext_lazy("Tip")


class TransferStatus(models.TextChoices):
    WAITING = "waiting", gettext_lazy("Waiting (hold period, or payouts not enabled)")
    PAID = "paid", gettext_lazy("Transferred")
    REVERSED = "reversed", gettext_lazy("Reversed")


class Transfer(TimeStampedModel):
    """Money owed to a courier and, once sent, its Stripe Transfer."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="transfers")
    delivery = models.ForeignKey(
        "deliveries.Delivery", on_delete=models.PROTECT, related_name="transfers"
    )
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers"
    )
    kind = models.CharField(max_length=20, choices=TransferKind.choices)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=TransferStatus.choices, default=TransferStatus.WAITING
    )
    not_before = models.DateTimeField(help_text="End of the hold period.")
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_transfer_id = models.CharField(max_length=64, blank=True)
    attempted_at = models.DateTimeField(
        null=True, blank=True, help_text="First call to Stripe (committed before the call)."
    )
    amount_reversed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_transfer_id"],
                condition=~Q(stripe_transfer_id=""),
                name="transfer_stripe_id_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} to {self.courier_id} ({self.status})"


class Refund(TimeStampedModel):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField()
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_refund_id = models.CharField(max_length=64, blank=True)
    # Paid back out of platform revenue (a returned parcel's fee, after release) rather than
    # out of the money held in escrow.
    from_revenue = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Refund {self.amount} on {self.payment_id}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open: money frozen"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Dispute(TimeStampedModel):
    """A card dispute; an admin resolves the frozen escrow from the admin site."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=64, unique=True)
    amount = models.PositiveIntegerField()
    reason = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=DisputeStatus.choices, default="open")
    resolution = models.CharField(max_length=300, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Dispute {self.stripe_dispute_id} ({self.status})"


class Tip(TimeStampedModel):
    """A tip after delivery: its own PaymentIntent, all of it for the courier."""

    delivery = models.ForeignKey(
        "deliveries.Delivery", on_delete=models.PROTECT, related_name="tips"
    )
    shipper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_payment_intent_id = models.CharField(max_length=64, unique=True)
    client_secret = models.CharField(max_length=128)
    stripe_charge_id = models.CharField(max_length=64, blank=True)
    succeeded = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Tip {self.amount} on delivery {self.delivery_id}"


class WebhookEndpoint(models.TextChoices):
    PLATFORM = "platform", "Platform"
    CONNECT = "connect", "Connect"


class WebhookEvent(models.Model):
    """The inbox: every verified event, stored once by its id before anything is done with it."""

    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64, db_index=True)
    endpoint = models.CharField(max_length=10, choices=WebhookEndpoint.choices)
    account = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class LedgerAccount(models.TextChoices):
    STRIPE_BALANCE = "stripe_balance", "Platform balance at Stripe"
    ESCROW = "escrow", "Escrow held for parcels"
    COURIER_PAYABLE = "courier_payable", "Owed to couriers"
    PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
    DISPUTES = "disputes", "Withdrawn by disputes"
    DISPUTE_LOSSES = "dispute_losses", "Dispute losses"


class LedgerTransaction(models.Model):
    """One money movement: balanced entries, tied to the Stripe object (or our own event) that
    caused it. The unique `source` makes a replay unable to post twice."""

    kind = models.CharField(max_length=40)
    source = models.CharField(max_length=120, unique=True)
    parcel = models.ForeignKey("parcels.Parcel", on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="ledger")
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.source}"


class LedgerEntry(models.Model):
    """Debit positive, credit negative; each transaction's entries sum to zero (checked at
    commit by a database trigger). Rows are never updated or deleted (another trigger)."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.CharField(max_length=20, choices=LedgerAccount.choices)
    amount = models.BigIntegerField()
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["account"], name="ledger_entry_account")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_nonzero")]

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+d}"


class ReconciliationRun(models.Model):
    """What the periodic reconciliation found: ledger vs Stripe, per payment."""

    created_at = models.DateTimeField(auto_now_add=True)
    payments_checked = models.PositiveIntegerField()
    differences = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"Reconciliation {self.created_at:%Y-%m-%d %H:%M}: {len(self.differences)} differences"
        )
