from __future__ import annotations

from typing import Any

from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField, LineStringField, PointField
from marketplace.core.geo import GeometryError, line_from_polyline
from marketplace.core.sizes import SizeClass
from marketplace.trips.models import RouteSource, Trip, TripEvent


class TripInputSerializer(serializers.Serializer):
    """A planned trip. Send the route as GeoJSON (`route`) or as an encoded polyline
    (`route_polyline`, precision 5 by default); with neither, origin and destination are
    required and a straight route is stored (`route_source` = "straight")."""

    route = LineStringField(required=False)
    route_polyline = serializers.CharField(required=False, max_length=200_000)
    polyline_precision = serializers.ChoiceField(choices=[5, 6], default=5)
    origin = PointField(required=False)
    destination = PointField(required=False)
    origin_label = serializers.CharField(max_length=200, required=False, default="")
    destination_label = serializers.CharField(max_length=200, required=False, default="")
    departure_earliest = DateTimeField()
    departure_latest = DateTimeField(required=False)
    arrival_latest = DateTimeField(required=False)
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
                    {"route_polyline": ["Send either route or route_polyline, not both."]}
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
                {"route": ["Send a route (GeoJSON or polyline), or both origin and destination."]}
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TripCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
