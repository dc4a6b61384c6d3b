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
from marketplace.lifecycle.commuting import trip_series_materialize, trip_series_stop
from marketplace.trips.models import Trip, TripEvent, TripSeries


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
        "series",
        "occurrence_date",
    ]
    list_filter = [
        "status",
        "vehicle_type",
        "route_source",
        "max_size_class",
        "departure_earliest",
        ("series", admin.EmptyFieldListFilter),
        "is_edited",
    ]
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
    readonly_fields = [
        "status",
        "route_source",
        "route_length_m",
        "series",
        "occurrence_date",
        "is_edited",
        "created_at",
        "updated_at",
    ]
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


class OccurrenceInline(ReadOnlyTabularInline):
    model = Trip
    fk_name = "series"
    fields = ("occurrence_date", "status", "departure_earliest", "is_edited", "reserved_parcels")
    readonly_fields = fields
    ordering = ("-occurrence_date",)
    show_change_link = True
    max_num = 0


@admin.register(TripSeries)
class TripSeriesAdmin(ReadOnlyAdminMixin, LeafletGeoAdmin):
    """Recurring commutes: read here, stopped or materialised by the actions."""

    list_display = [
        "id",
        "courier",
        "rrule",
        "time_zone",
        "departure_time",
        "starts_on",
        "until",
        "is_active",
        "materialized_until",
    ]
    list_filter = ["is_active", "time_zone"]
    search_fields = ["id", "courier__email", "origin_label", "destination_label", "rrule"]
    list_select_related = ["courier"]
    inlines = [OccurrenceInline]
    actions = ["stop_series", "materialize_series"]

    @admin.action(description="Stop selected series (cancel planned occurrences)")
    def stop_series(self, request: HttpRequest, queryset: QuerySet[TripSeries]) -> None:
        for series in queryset:
            trip_series_stop(series=series, actor=series.courier)
        messages.success(request, f"Stopped {queryset.count()} series.")

    @admin.action(description="Make missing occurrences now")
    def materialize_series(self, request: HttpRequest, queryset: QuerySet[TripSeries]) -> None:
        made = sum(len(trip_series_materialize(series_id=s.pk)) for s in queryset)
        messages.success(request, f"Made {made} occurrences.")
