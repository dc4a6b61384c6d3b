"""DRF fields: WGS 84 geometries as GeoJSON (validated by marketplace.core.geo), and times within
the range of marketplace.core.datetimes."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.gis.gdal import OGRGeometry
from django.contrib.gis.geos import GEOSGeometry, LineString, Point
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.core.datetimes import datetime_problem
from marketplace.core.geo import GeometryError, line_from_geojson, point_from_geojson

_UNSET = object()

POINT_SCHEMA = {
    "type": "object",
    "description": "GeoJSON Point in WGS 84: [longitude, latitude].",
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    },
    "required": ["type", "coordinates"],
    "example": {"type": "Point", "coordinates": [13.405, 52.52]},
}
LINESTRING_SCHEMA = {
    "type": "object",
    "description": "GeoJSON LineString in WGS 84, positions as [longitude, latitude].",
    "properties": {
        "type": {"type": "string", "enum": ["LineString"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}, "minItems": 2},
            "minItems": 2,
        },
    },
    "required": ["type", "coordinates"],
    "example": {"type": "LineString", "coordinates": [[13.38, 52.51], [13.42, 52.53]]},
}


def _as_geojson(value: GEOSGeometry) -> dict[str, Any]:
    # GDAL writes the GeoJSON, as GEOSGeometry.json does, but from an OGR geometry without a
    # spatial reference: GeoJSON output has no CRS member, and building the SpatialReference
    # (an EPSG lookup) cost a third of a point's time in list answers.
    data: dict[str, Any] = json.loads(OGRGeometry(value.wkb).json)
    return data


@extend_schema_field(POINT_SCHEMA)
class PointField(serializers.Field):
    """A GeoJSON Point. A row from core.spatial.with_coordinates carries its coordinates
    (`<source>_x`, `<source>_y`) instead of the point: they are written as they are."""

    def get_attribute(self, instance: Any) -> Any:
        x = getattr(instance, f"{self.source}_x", None)
        if x is not None:
            return (x, getattr(instance, f"{self.source}_y"))
        return super().get_attribute(instance)

    def to_internal_value(self, data: Any) -> Point:
        try:
            return point_from_geojson(data, where=self.field_name or "point")
        except GeometryError as exc:
            raise serializers.ValidationError(exc.message) from exc

    def to_representation(self, value: Point | tuple[float, float]) -> dict[str, Any]:
        if isinstance(value, tuple):
            return {"type": "Point", "coordinates": list(value)}
        return _as_geojson(value)


@extend_schema_field(LINESTRING_SCHEMA)
class LineStringField(serializers.Field):
    def to_internal_value(self, data: Any) -> LineString:
        try:
            return line_from_geojson(data, where=self.field_name or "route")
        except GeometryError as exc:
            raise serializers.ValidationError(exc.message) from exc

    def to_representation(self, value: LineString) -> dict[str, Any]:
        return _as_geojson(value)


class DateTimeField(serializers.DateTimeField):
    """ISO 8601 with any offset, as DRF's; refused (400) beyond ±14:00 or outside 2000-2100.
    Written in the current zone as DRF's are, looked up once per serializer: DRF asks for it
    for every value (a context-local lookup, a tenth of a 20-row list's time)."""

    def default_timezone(self) -> Any:
        root = self.root
        zone = root.__dict__.get("_current_zone", _UNSET)
        if zone is _UNSET:
            zone = root.__dict__["_current_zone"] = super().default_timezone()
        return zone

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                given = parse_datetime(value.strip())
            except ValueError:
                given = None  # DRF's own message follows
            if given is not None and (problem := datetime_problem(given)):
                raise serializers.ValidationError(problem)
        result = super().to_internal_value(value)
        if problem := datetime_problem(result):
            raise serializers.ValidationError(problem)
        return result
