from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin

from marketplace.backoffice.admin.common import (
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    admin_user,
)
from marketplace.core.exceptions import ApplicationError
from marketplace.core.money import format_money
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.parcels.models import Parcel, ParcelEvent


class ParcelEventInline(ReadOnlyTabularInline):
    model = ParcelEvent
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "note")
    fields = readonly_fields


@admin.register(Parcel)
class ParcelAdmin(LeafletGeoAdmin):
    list_display = [
        "id",
        "description",
        "shipper",
        "status",
        "size_class",
        "price",
        "pickup_window_start",
        "created_at",
    ]
    list_filter = ["status", "size_class", "currency", "created_at", "pickup_window_start"]
    search_fields = [
        "id",
        "description",
        "shipper__email",
        "pickup_address",
        "dropoff_address",
        "pickup_contact_name",
        "dropoff_contact_name",
    ]
    list_select_related = ["shipper"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["shipper"]
    readonly_fields = [
        "status",
        "currency",
        "distance_m",
        "price_total",
        "platform_fee",
        "courier_share",
        "published_at",
        "created_at",
        "updated_at",
    ]
    inlines = [ParcelEventInline]
    actions = ["cancel_parcels"]
    fieldsets = (
        (None, {"fields": ("shipper", "status", "description", "size_class", "weight_grams")}),
        ("Value and photo", {"fields": ("declared_value", "photo")}),
        (
            "Pickup",
            {
                "fields": (
                    "pickup_point",
                    "pickup_address",
                    "pickup_contact_name",
                    "pickup_contact_phone",
                    "pickup_window_start",
                    "pickup_window_end",
                )
            },
        ),
        (
            "Drop-off",
            {
                "fields": (
                    "dropoff_point",
                    "dropoff_address",
                    "dropoff_contact_name",
                    "dropoff_contact_phone",
                    "delivery_window_start",
                    "delivery_window_end",
                )
            },
        ),
        (
            "Quote",
            {
                "fields": (
                    "currency",
                    "distance_m",
                    "price_total",
                    "platform_fee",
                    "courier_share",
                    "published_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    @admin.display(description="Price", ordering="price_total")
    def price(self, obj: Parcel) -> str:
        return format_money(obj.price_total, obj.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Parcels are created by shippers (site or API) so they get a quote and an audit trail.
        return False

    @admin.action(description="Cancel selected parcels")
    def cancel_parcels(self, request: HttpRequest, queryset: QuerySet[Parcel]) -> None:
        done, refused = 0, []
        for parcel in queryset:
            try:
                parcel_cancel(parcel=parcel, actor=admin_user(request), reason="by admin")
                done += 1
            except ApplicationError as exc:
                refused.append(f"#{parcel.pk}: {exc.message}")
        if done:
            messages.success(request, f"Cancelled {done} parcel(s).")
        for line in refused:
            messages.error(request, line)


@admin.register(ParcelEvent)
class ParcelEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "parcel", "from_status", "to_status", "actor", "note"]
    list_filter = ["to_status", "from_status", "created_at"]
    search_fields = ["parcel__id", "parcel__description", "actor__email", "note"]
    list_select_related = ["parcel", "actor"]
    date_hierarchy = "created_at"
