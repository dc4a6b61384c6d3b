"""Merchants in the admin: their members, pickup locations and API keys (created here too, the
full key shown once), idempotency records, CSV uploads and held quotes (read only)."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin
from marketplace.merchants import services
from marketplace.merchants.models import (
    BulkUpload,
    IdempotencyRecord,
    Merchant,
    MerchantApiKey,
    MerchantMember,
    PickupLocation,
)
from marketplace.parcels.models import HeldQuote

# The library's own key model is not used (MerchantApiKey is ours).
admin.site.unregister(APIKey)


class MemberInline(admin.TabularInline):
    model = MerchantMember
    extra = 0
    autocomplete_fields = ["user"]


class LocationInline(admin.TabularInline):
    model = PickupLocation
    extra = 0
    fields = ("name", "address", "contact_name", "contact_phone", "is_active")


class KeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MerchantApiKey
    extra = 0
    can_delete = False
    fields = ("prefix", "name", "scope", "mode", "created", "last_used_at", "revoked")
    readonly_fields = fields


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "contact_email", "billing_mode", "is_active", "created_at"]
    list_filter = ["billing_mode", "is_active"]
    search_fields = ["name", "contact_email", "members__user__email"]
    readonly_fields = ["stripe_customer_id", "stripe_payment_method_id", "created_at"]
    inlines = [MemberInline, LocationInline, KeyInline]


@admin.register(PickupLocation)
class PickupLocationAdmin(GISModelAdmin):
    list_display = ["id", "name", "merchant", "address", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "address", "merchant__name"]
    list_select_related = ["merchant"]


@admin.register(MerchantApiKey)
class MerchantApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "merchant",
        "scope",
        "mode",
        "created",
        "last_used_at",
        "revoked",
    ]
    list_filter = ["scope", "mode", "revoked"]
    search_fields = ["prefix", "name", "merchant__name"]
    list_select_related = ["merchant"]
    fields = ["merchant", "name", "scope", "mode", "prefix", "created", "last_used_at", "revoked"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["prefix", "created", "last_used_at"]
        return [*fixed, "merchant", "scope", "mode"] if obj else [*fixed, "revoked"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, text = services.api_key_create(
            merchant=obj.merchant,
            name=obj.name,
            scope=obj.scope,
            mode=obj.mode,
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk, obj.prefix = key.pk, key.prefix
        messages.warning(request, f"The new key (shown this once, copy it now): {text}")

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[MerchantApiKey]) -> None:
        for key in queryset:
            services.api_key_revoke(merchant=key.merchant, prefix=key.prefix)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "merchant", "scope", "response_status", "created_at"]
    list_filter = ["response_status"]
    search_fields = ["key", "scope"]


@admin.register(BulkUpload)
class BulkUploadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "filename",
        "merchant",
        "status",
        "processed",
        "total",
        "created",
        "failed",
    ]
    list_filter = ["status", "mode"]
    exclude = ["rows"]


@admin.register(HeldQuote)
class HeldQuoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "merchant",
        "requested_by",
        "price_total",
        "currency",
        "expires_at",
        "parcel",
    ]
    search_fields = ["id"]
    list_select_related = ["merchant", "requested_by"]
