from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField, LineStringField, PointField
from marketplace.core.geo import GeometryError, line_from_polyline
from marketplace.core.sizes import SizeClass
from marketplace.trips.models import RouteSource, Trip, TripEvent, TripSeries
from marketplace.trips.recurrence import WEEKDAYS


class RouteInputSerializer(serializers.Serializer):
    """The route and room of a trip or a recurring commute. Send the route as GeoJSON (`route`)
    or as an encoded polyline (`route_polyline`, precision 5 by default); with neither, origin
    and destination are required and a straight route is stored (`route_source` = "straight")."""

    route = LineStringField(required=False)
    route_polyline = serializers.CharField(required=False, max_length=200_000)
    polyline_precision = serializers.ChoiceField(choices=[5, 6], default=5)
    origin = PointField(required=False)
    destination = PointField(required=False)
    origin_label = serializers.CharField(max_length=200, required=False, default="")
    destination_label = serializers.CharField(max_length=200, required=False, default="")
    max_size_class = serializers.ChoiceField(choices=SizeClass.choices, required=False)
    max_weight_grams = serializers.IntegerField(min_value=1, required=False)
    max_parcels = serializers.IntegerField(min_value=1, max_value=50, default=3)
    corridor_m = serializers.IntegerField(min_value=50, max_value=20_000, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        encoded = attrs.pop("route_polyline", None)
        precision = attrs.pop("polyline_precision", 5)
        if encoded is not None:
            if "route" in attrs:
                raise serializers.ValidationError(
                    {"route_polyline": [gettext("Send either route or route_polyline, not both.")]}
                )
            try:
                attrs["route"] = line_from_polyline(encoded, precision=precision)
            except GeometryError as exc:
                raise serializers.ValidationError({"route_polyline": [exc.message]}) from exc
            attrs["route_source"] = RouteSource.POLYLINE
        elif "route" in attrs:
            attrs["route_source"] = RouteSource.GEOJSON
        elif "origin" not in attrs or "destination" not in attrs:
            raise serializers.ValidationError(
                {
                    "route": [
                        gettext(
                            "Send a route (GeoJSON or polyline), or both origin and destination."
                        )
                    ]
                }
            )
        return attrs


class TripInputSerializer(RouteInputSerializer):
    """A planned trip (see RouteInputSerializer for the route)."""

    departure_earliest = DateTimeField()
    departure_latest = DateTimeField(required=False)
    arrival_latest = DateTimeField(required=False)


class TripSeriesInputSerializer(RouteInputSerializer):
    """A recurring commute: `rrule` (RFC 5545, e.g. "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR") or
    `days` (["MO", "WE"]), from `starts_on` to `until` (inclusive, optional), leaving at
    `departure_time` local time in `time_zone` (IANA) on each date."""

    rrule = serializers.CharField(max_length=500, required=False, default="")
    days = serializers.ListField(
        child=serializers.ChoiceField(choices=WEEKDAYS), required=False, max_length=7
    )
    time_zone = serializers.CharField(max_length=64)
    starts_on = serializers.DateField()
    until = serializers.DateField(required=False, allow_null=True, default=None)
    departure_time = serializers.TimeField()
    departure_flex_minutes = serializers.IntegerField(min_value=0, max_value=720, default=0)
    arrival_minutes = serializers.IntegerField(
        min_value=1, max_value=1440, required=False, allow_null=True, default=None
    )


class TripUpdateSerializer(serializers.Serializer):
    """What a planned trip (an occurrence of a series, say) may change on its own."""

    departure_earliest = DateTimeField(required=False)
    departure_latest = DateTimeField(required=False)
    arrival_latest = DateTimeField(required=False)
    max_size_class = serializers.ChoiceField(choices=SizeClass.choices, required=False)
    max_weight_grams = serializers.IntegerField(min_value=1, required=False)
    max_parcels = serializers.IntegerField(min_value=1, max_value=50, required=False)
    corridor_m = serializers.IntegerField(min_value=50, max_value=20_000, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": [gettext("Send a field to change.")]}
            )
        return attrs


class TripEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TripEvent
        fields = ["from_status", "to_status", "note", "created_at"]


class TripSerializer(serializers.ModelSerializer):
    origin = PointField()
    destination = PointField()
    route = LineStringField()
    is_straight_route = serializers.BooleanField(read_only=True)

    class Meta:
        model = Trip
        fields = [
            "id",
            "status",
            "vehicle_type",
            "origin",
            "origin_label",
            "destination",
            "destination_label",
            "route",
            "route_source",
            "is_straight_route",
            "route_length_m",
            "departure_earliest",
            "departure_latest",
            "arrival_latest",
            "max_size_class",
            "max_weight_grams",
            "max_parcels",
            "corridor_m",
            "series",
            "occurrence_date",
            "is_edited",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TripSeriesSerializer(serializers.ModelSerializer):
    origin = PointField()
    destination = PointField()
    route = LineStringField()
    upcoming = serializers.SerializerMethodField(
        help_text="Planned occurrences' ids, soonest first."
    )

    class Meta:
        model = TripSeries
        fields = [
            "id",
            "rrule",
            "time_zone",
            "starts_on",
            "until",
            "departure_time",
            "departure_flex_minutes",
            "arrival_minutes",
            "origin",
            "origin_label",
            "destination",
            "destination_label",
            "route",
            "route_source",
            "max_size_class",
            "max_weight_grams",
            "max_parcels",
            "corridor_m",
            "is_active",
            "materialized_until",
            "upcoming",
            "created_at",
        ]
        read_only_fields = fields

    def get_upcoming(self, series: TripSeries) -> list[int]:
        planned = series.occurrences.filter(status="planned").order_by("departure_earliest")
        return list(planned.values_list("pk", flat=True))


class TripCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
