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
from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.trips.models import Trip, TripEvent


class TripEventInline(ReadOnlyTabularInline):
    model = TripEvent
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "note")
    fields = readonly_fields


@admin.register(Trip)
class TripAdmin(LeafletGeoAdmin):
    list_display = [
        "id",
        "courier",
        "status",
        "vehicle_type",
        "route_source",
        "route_length_m",
        "departure_earliest",
        "max_size_class",
        "max_parcels",
    ]
    list_filter = ["status", "vehicle_type", "route_source", "max_size_class", "departure_earliest"]
    search_fields = [
        "id",
        "courier__email",
        "courier__full_name",
        "origin_label",
        "destination_label",
    ]
    list_select_related = ["courier"]
    date_hierarchy = "departure_earliest"
    autocomplete_fields = ["courier"]
    readonly_fields = ["status", "route_source", "route_length_m", "created_at", "updated_at"]
    inlines = [TripEventInline]
    actions = ["cancel_trips"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel selected trips")
    def cancel_trips(self, request: HttpRequest, queryset: QuerySet[Trip]) -> None:
        for trip in queryset:
            try:
                trip_cancel(trip=trip, actor=admin_user(request), reason="by admin")
            except ApplicationError as exc:
                messages.error(request, f"#{trip.pk}: {exc.message}")


@admin.register(TripEvent)
class TripEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "trip", "from_status", "to_status", "actor", "note"]
    list_filter = ["to_status", "created_at"]
    search_fields = ["trip__id", "actor__email", "note"]
    list_select_related = ["trip", "actor"]
