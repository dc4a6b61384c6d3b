from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from marketplace.backoffice.admin.common import (
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    admin_user,
)
from marketplace.core.exceptions import ApplicationError
from marketplace.core.money import format_money
from marketplace.lifecycle.stripe_webhooks import webhook_process
from marketplace.payments import ledger
from marketplace.payments.disputes import dispute_resolve
from marketplace.payments.models import (
    BankPayout,
    ConnectedAccount,
    Dispute,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    ReconciliationRun,
    Refund,
    Transfer,
    WebhookEvent,
)


class PaymentEventInline(ReadOnlyTabularInline):
    model = PaymentEvent
    readonly_fields = ("created_at", "from_status", "to_status", "note")
    fields = readonly_fields


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    readonly_fields = ("created_at", "amount", "reason", "stripe_refund_id")
    fields = readonly_fields


class TransferInline(ReadOnlyTabularInline):
    model = Transfer
    readonly_fields = ("created_at", "kind", "amount", "status", "courier", "stripe_transfer_id")
    fields = readonly_fields


class BankPayoutInline(ReadOnlyTabularInline):
    model = BankPayout
    readonly_fields = (
        "created_at",
        "stripe_payout_id",
        "amount",
        "currency",
        "status",
        "failure_message",
    )
    fields = readonly_fields


class LedgerTransactionInline(ReadOnlyTabularInline):
    model = LedgerTransaction
    readonly_fields = ("created_at", "kind", "source", "memo", "lines")
    fields = readonly_fields

    @admin.display(description="Entries")
    def lines(self, obj: LedgerTransaction) -> str:
        return ", ".join(f"{e.account} {e.amount:+d}" for e in obj.entries.all())


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Money moves only through the escrow services; here admins read it line by line."""

    list_display = [
        "id",
        "parcel",
        "shipper",
        "status",
        "paid",
        "refunded",
        "escrow_held",
        "created_at",
    ]
    list_filter = ["status", "currency", "created_at"]
    search_fields = ["stripe_payment_intent_id", "stripe_charge_id", "parcel__id", "shipper__email"]
    list_select_related = ["parcel", "shipper"]
    inlines = [PaymentEventInline, LedgerTransactionInline, RefundInline, TransferInline]

    @admin.display(description="Amount")
    def paid(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)

    @admin.display(description="Refunded")
    def refunded(self, obj: Payment) -> str:
        return format_money(obj.amount_refunded, obj.currency)

    @admin.display(description="Escrow held")
    def escrow_held(self, obj: Payment) -> str:
        held = -ledger.balances(transaction__payment=obj).get("escrow", 0)
        return format_money(held, obj.currency)


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    """Open disputes freeze the payment; resolve them with the actions."""

    list_display = ["stripe_dispute_id", "payment", "amount", "reason", "status", "resolution"]
    list_filter = ["status", "created_at"]
    search_fields = ["stripe_dispute_id", "payment__parcel__id"]
    readonly_fields = [f.name for f in Dispute._meta.fields]
    actions = ["release_to_courier", "refund_in_full", "close_and_unfreeze"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _resolve(self, request: HttpRequest, queryset: QuerySet[Dispute], action: str) -> None:
        for dispute in queryset:
            try:
                dispute_resolve(dispute=dispute, admin=admin_user(request), action=action)
                messages.success(request, f"{dispute.stripe_dispute_id}: {action} done.")
            except ApplicationError as exc:
                messages.error(request, f"{dispute.stripe_dispute_id}: {exc.message}")

    @admin.action(description="Release the money to the courier")
    def release_to_courier(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        self._resolve(request, queryset, "release")

    @admin.action(description="Refund the shipper in full")
    def refund_in_full(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        self._resolve(request, queryset, "refund")

    @admin.action(description="Close: unfreeze, move nothing")
    def close_and_unfreeze(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        self._resolve(request, queryset, "close")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Payouts to couriers: waiting (pending) and paid."""

    list_display = [
        "id",
        "courier",
        "kind",
        "amount",
        "currency",
        "status",
        "not_before",
        "created_at",
    ]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["courier__email", "stripe_transfer_id", "delivery__id"]
    list_select_related = ["courier"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        pending = -ledger.balances().get("courier_payable", 0)
        extra_context = {
            **(extra_context or {}),
            "title": f"Transfers (owed to couriers now: {pending})",
        }
        return super().changelist_view(request, extra_context)


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    readonly_fields = ("account", "amount", "courier")
    fields = readonly_fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger, append-only. The title shows every account's balance (platform revenue,
    escrow held, owed to couriers...) for the rows filtered."""

    list_display = ["created_at", "kind", "source", "parcel", "payment", "memo"]
    list_filter = ["kind", "created_at"]
    search_fields = ["source", "parcel__id", "memo"]
    inlines = [LedgerEntryInline]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        totals = ledger.balances()
        summary = ", ".join(f"{name} {amount:+d}" for name, amount in totals.items()) or "all zero"
        extra_context = {**(extra_context or {}), "title": f"Ledger — balances: {summary}"}
        return super().changelist_view(request, extra_context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["received_at", "type", "event_id", "endpoint", "processed_at", "attempts"]
    list_filter = ["endpoint", "type", "processed_at"]
    search_fields = ["event_id", "type", "account"]
    actions = ["process_again"]

    @admin.action(description="Process again (safe: it only moves state forward)")
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        for event in queryset:
            WebhookEvent.objects.filter(pk=event.pk).update(processed_at=None)
            webhook_process(event_pk=event.pk)
        messages.success(request, f"{queryset.count()} event(s) processed.")


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["courier", "stripe_account_id", "payouts_enabled", "details_submitted"]
    list_filter = ["payouts_enabled", "details_submitted"]
    search_fields = ["courier__email", "stripe_account_id"]
    inlines = [BankPayoutInline]


@admin.register(BankPayout)
class BankPayoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Couriers' payouts from their Stripe accounts to their banks (`payout.*` events)."""

    list_display = [
        "stripe_payout_id",
        "courier",
        "money",
        "status",
        "arrival_date",
        "failure_message",
        "updated_at",
    ]
    list_filter = ["status", "currency", "arrival_date"]
    search_fields = ["stripe_payout_id", "account__courier__email", "account__stripe_account_id"]
    list_select_related = ["account__courier"]
    date_hierarchy = "created_at"

    @admin.display(description="Courier", ordering="account__courier__email")
    def courier(self, obj: BankPayout) -> str:
        return str(obj.account.courier)

    @admin.display(description="Amount", ordering="amount")
    def money(self, obj: BankPayout) -> str:
        return format_money(obj.amount, obj.currency)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "payments_checked", "difference_count"]

    @admin.display(description="Differences")
    def difference_count(self, obj: ReconciliationRun) -> int:
        return len(obj.differences)
