"""Trips that couriers already plan: a route, a departure window and spare capacity."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.indexes import GistIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from marketplace.accounts.models import VehicleType
from marketplace.core.models import AuditEvent, TimeStampedModel
from marketplace.core.sizes import SizeClass
from marketplace.core.spatial import mercator_copy, time_range


class TripStatus(models.TextChoices):
    PLANNED = "planned", gettext_lazy("Planned")
    ACTIVE = "active", gettext_lazy("On the way")
    COMPLETED = "completed", gettext_lazy("Completed")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")


T = TripStatus
TRIP_TRANSITIONS: dict[str, frozenset[str]] = {
    T.PLANNED: frozenset({T.ACTIVE, T.CANCELLED}),
    T.ACTIVE: frozenset({T.COMPLETED, T.CANCELLED}),
    T.COMPLETED: frozenset(),
    T.CANCELLED: frozenset(),
}


class RouteSource(models.TextChoices):
    POLYLINE = "polyline", "Encoded polyline from the app"
    GEOJSON = "geojson", "GeoJSON from the app"
    STRAIGHT = "straight", "Straight line (no route sent)"


class TripSeries(TimeStampedModel):
    """A commute posted once: the route, capacity and local departure time, repeated by an RFC 5545
    recurrence rule in the courier's time zone. Its occurrences are ordinary Trips (`series`,
    `occurrence_date`), made RECURRING_TRIPS_HORIZON_DAYS ahead so they can be matched; each can
    be skipped (cancelled) or edited on its own."""

    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trip_series"
    )
    rrule = models.CharField(
        max_length=500, help_text="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    )
    time_zone = models.CharField(max_length=64, help_text="IANA zone the times are in.")
    starts_on = models.DateField()
    until = models.DateField(null=True, blank=True, help_text="Last possible date (inclusive).")
    departure_time = models.TimeField(help_text="Earliest departure, local time.")
    departure_flex_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(720)]
    )
    arrival_minutes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="Latest arrival, minutes after the earliest departure (empty: estimated).",
    )

    origin = gis_models.PointField(srid=4326)
    origin_label = models.CharField(max_length=200, blank=True)
    destination = gis_models.PointField(srid=4326)
    destination_label = models.CharField(max_length=200, blank=True)
    route = gis_models.LineStringField(srid=4326)
    route_source = models.CharField(max_length=10, choices=RouteSource.choices)

    max_size_class = models.CharField(max_length=2, choices=SizeClass.choices)
    max_weight_grams = models.PositiveIntegerField()
    max_parcels = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    corridor_m = models.PositiveIntegerField(
        validators=[MinValueValidator(50), MaxValueValidator(20_000)]
    )

    is_active = models.BooleanField(default=True)
    # Occurrences exist for every date up to here (the materialiser's high-water mark).
    materialized_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "trip series"
        constraints = [
            models.CheckConstraint(
                condition=Q(until__isnull=True) | Q(until__gte=F("starts_on")),
                name="trip_series_until_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Series #{self.pk} by {self.courier_id}: {self.rrule}"


class Trip(TimeStampedModel):
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trips"
    )
    # An occurrence of a recurring commute (one per series and local date; a skipped one stays,
    # cancelled, so it is never made again). `is_edited`: changed on its own since it was made.
    series = models.ForeignKey(
        TripSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="occurrences"
    )
    occurrence_date = models.DateField(null=True, blank=True)
    is_edited = models.BooleanField(default=False, db_default=False)
    status = models.CharField(
        max_length=12, choices=TripStatus.choices, default=TripStatus.PLANNED, db_index=True
    )
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices)

    origin = gis_models.PointField(srid=4326)
    origin_label = models.CharField(max_length=200, blank=True)
    destination = gis_models.PointField(srid=4326)
    destination_label = models.CharField(max_length=200, blank=True)
    route = gis_models.LineStringField(srid=4326)
    route_source = models.CharField(max_length=10, choices=RouteSource.choices)
    route_length_m = models.PositiveIntegerField()
    route_merc = mercator_copy("route", gis_models.LineStringField)

    departure_earliest = models.DateTimeField()
    departure_latest = models.DateTimeField()
    arrival_latest = models.DateTimeField()
    active_range = time_range("departure_earliest", "arrival_latest")
    speed_kmh = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(150)],
        help_text="Average speed used to estimate when the courier passes a point.",
    )

    # Free capacity the courier offers on this trip.
    max_size_class = models.CharField(max_length=2, choices=SizeClass.choices)
    max_weight_grams = models.PositiveIntegerField()
    max_parcels = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    corridor_m = models.PositiveIntegerField(
        validators=[MinValueValidator(50), MaxValueValidator(20_000)]
    )
    # The most its accepted deliveries take at once along the route (parcels on board together,
    # their weight): a parcel dropped off before another is picked up frees its seat for it.
    # Kept under the trip's row lock by lifecycle.steps.trip_room_update.
    reserved_weight_grams = models.PositiveIntegerField(default=0)
    reserved_parcels = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-departure_earliest"]
        indexes = [
            GistIndex(fields=["route_merc"], name="trip_route_merc_gist"),
            models.Index(fields=["courier", "-departure_earliest"], name="trip_courier_departure"),
            models.Index(fields=["status", "departure_earliest"], name="trip_status_departure"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(departure_latest__gte=F("departure_earliest")),
                name="trip_departure_window_order",
            ),
            models.CheckConstraint(
                condition=Q(arrival_latest__gt=F("departure_earliest")),
                name="trip_arrival_after_departure",
            ),
            models.CheckConstraint(
                condition=Q(max_weight_grams__gt=0), name="trip_weight_positive"
            ),
            models.CheckConstraint(condition=Q(max_parcels__gte=1), name="trip_parcels_positive"),
            models.CheckConstraint(
                condition=Q(corridor_m__gte=50, corridor_m__lte=20_000), name="trip_corridor_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=TripStatus.values), name="trip_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(reserved_weight_grams__lte=F("max_weight_grams")),
                name="trip_reserved_weight_within_capacity",
            ),
            models.CheckConstraint(
                condition=Q(reserved_parcels__lte=F("max_parcels")),
                name="trip_reserved_parcels_within_capacity",
            ),
            models.UniqueConstraint(
                fields=["series", "occurrence_date"],
                condition=Q(series__isnull=False),
                name="trip_one_occurrence_per_date",
            ),
        ]

    def __str__(self) -> str:
        return f"Trip #{self.pk} by {self.courier_id} ({self.status})"

    @property
    def free_weight_grams(self) -> int:
        return self.max_weight_grams - self.reserved_weight_grams

    @property
    def free_parcels(self) -> int:
        return self.max_parcels - self.reserved_parcels

    @property
    def is_straight_route(self) -> bool:
        return self.route_source == RouteSource.STRAIGHT


class TripEvent(AuditEvent):
    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=TripStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=TripStatus.choices)

    subject = "trip"
