from django.contrib import admin

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin, ReadOnlyTabularInline
from marketplace.deliveries.models import Delivery, DeliveryEvent, Rating


class DeliveryEventInline(ReadOnlyTabularInline):
    model = DeliveryEvent
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "note")
    fields = readonly_fields


class RatingInline(ReadOnlyTabularInline):
    model = Rating
    fk_name = "delivery"
    readonly_fields = ("rater", "ratee", "stars", "comment", "created_at")
    fields = readonly_fields


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Deliveries move only through their services (codes, proofs, audit rows): read-only here."""

    list_display = [
        "id",
        "parcel",
        "courier",
        "trip",
        "status",
        "predicted_pickup_at",
        "predicted_dropoff_at",
        "co2_saved_grams",
        "cancellation_fee",
    ]
    list_filter = ["status", "cancelled_by", "created_at"]
    search_fields = ["id", "parcel__id", "parcel__description", "courier__email"]
    list_select_related = ["parcel", "courier", "trip"]
    date_hierarchy = "created_at"
    inlines = [DeliveryEventInline, RatingInline]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["delivery", "rater", "ratee", "stars", "created_at"]
    list_filter = ["stars", "created_at"]
    search_fields = ["rater__email", "ratee__email", "comment"]
    list_select_related = ["delivery", "rater", "ratee"]
