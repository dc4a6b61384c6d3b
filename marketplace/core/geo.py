"""Geometry input: WGS 84 points and routes from GeoJSON or Google's encoded polyline.

Everything the API and the forms accept goes through here, so every bad input gets the same
clear message. Coordinates are (longitude, latitude) in GeoJSON order.
"""

from __future__ import annotations

import math
from typing import Any

import polyline as polyline_codec
from django.contrib.gis.geos import LineString, Point
from django.utils.translation import gettext

from marketplace.core.exceptions import ApplicationError
from marketplace.core.json_input import JSONInputError, loads_bounded

WGS84 = 4326
EARTH_RADIUS_M = 6_371_008.8
MAX_ROUTE_VERTICES = 5_000


class GeometryError(ApplicationError):
    code = "invalid_geometry"


def _coordinate(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise GeometryError(
            gettext("%(where)s: a position is [longitude, latitude].") % {"where": where}
        )
    lon, lat = value[0], value[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
        raise GeometryError(
            gettext("%(where)s: longitude and latitude must be numbers.") % {"where": where}
        )
    try:  # an integer like 10**400 has no float: OverflowError, not a 500
        finite = all(math.isfinite(v) for v in (lon, lat))
    except OverflowError:
        finite = False
    if not finite:
        raise GeometryError(
            gettext("%(where)s: longitude and latitude must be finite numbers.") % {"where": where}
        )
    if not -180 <= lon <= 180:
        raise GeometryError(
            gettext("%(where)s: longitude %(lon)s is outside -180..180.")
            % {"where": where, "lon": lon}
        )
    if not -90 <= lat <= 90:
        raise GeometryError(
            gettext("%(where)s: latitude %(lat)s is outside -90..90.")
            % {"where": where, "lat": lat}
        )
    return float(lon), float(lat)


def _loads(text: str, where: str) -> Any:
    try:
        return loads_bounded(text)
    except JSONInputError as exc:
        raise GeometryError(
            gettext("%(where)s: not valid JSON (%(exc)s).") % {"where": where, "exc": exc}
        ) from exc


def make_point(lon: float, lat: float, *, where: str = "point") -> Point:
    lon, lat = _coordinate([lon, lat], where)
    return Point(lon, lat, srid=WGS84)


def point_from_geojson(data: Any, *, where: str = "point") -> Point:
    if isinstance(data, str):
        data = _loads(data, where)
    if not isinstance(data, dict) or data.get("type") != "Point":
        raise GeometryError(
            gettext('%(where)s: expected a GeoJSON Point, {"type": "Point", ...}.')
            % {"where": where}
        )
    lon, lat = _coordinate(data.get("coordinates"), where)
    return Point(lon, lat, srid=WGS84)


def _line(coords: list[tuple[float, float]], where: str) -> LineString:
    if len(coords) < 2:
        raise GeometryError(
            gettext("%(where)s: a route needs at least two positions.") % {"where": where}
        )
    if len(coords) > MAX_ROUTE_VERTICES:
        raise GeometryError(
            gettext("%(where)s: a route may have at most %(MAX_ROUTE_VERTICES)s positions.")
            % {"where": where, "MAX_ROUTE_VERTICES": MAX_ROUTE_VERTICES}
        )
    if len(set(coords)) < 2:
        raise GeometryError(
            gettext("%(where)s: a route needs two distinct positions.") % {"where": where}
        )
    return LineString(coords, srid=WGS84)


def line_from_geojson(data: Any, *, where: str = "route") -> LineString:
    if isinstance(data, str):
        data = _loads(data, where)
    if not isinstance(data, dict) or data.get("type") != "LineString":
        raise GeometryError(
            gettext('%(where)s: expected a GeoJSON LineString, {"type": "LineString", ...}.')
            % {"where": where}
        )
    raw = data.get("coordinates")
    if not isinstance(raw, list):
        raise GeometryError(
            gettext("%(where)s: coordinates must be a list of positions.") % {"where": where}
        )
    coords = [_coordinate(c, f"{where} position {i}") for i, c in enumerate(raw)]
    return _line(coords, where)


def line_from_polyline(encoded: str, *, precision: int = 5, where: str = "route") -> LineString:
    """Decode Google's encoded polyline (precision 5; OSRM/Valhalla also use 6)."""
    if not isinstance(encoded, str) or not encoded:
        raise GeometryError(gettext("%(where)s: the encoded polyline is empty.") % {"where": where})
    try:
        latlons = polyline_codec.decode(encoded, precision)
    except (ValueError, IndexError, TypeError) as exc:
        raise GeometryError(
            gettext("%(where)s: not a valid encoded polyline.") % {"where": where}
        ) from exc
    coords = [
        _coordinate([lon, lat], f"{where} position {i}") for i, (lat, lon) in enumerate(latlons)
    ]
    return _line(coords, where)


def straight_line(origin: Point, destination: Point) -> LineString:
    return _line([(origin.x, origin.y), (destination.x, destination.y)], "route")


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two WGS 84 points."""
    return haversine_lonlat_m(a.x, a.y, b.x, b.y)


def haversine_lonlat_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """haversine_m on plain coordinates (no GEOS objects: the per-ping checks use it)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def line_length_m(line: LineString) -> float:
    coords = line.coords
    return sum(haversine_lonlat_m(*coords[i], *coords[i + 1]) for i in range(len(coords) - 1))


def approximate(point: Point, *, grid_m: float = 500.0) -> Point:
    """Snap a point to a grid of about `grid_m` metres, to show an area without the address."""
    lon, lat = approximate_lonlat(point.x, point.y, grid_m=grid_m)
    return Point(lon, lat, srid=WGS84)


def approximate_lonlat(lon: float, lat: float, *, grid_m: float = 500.0) -> tuple[float, float]:
    """approximate() on plain coordinates: the (lon, lat) of the grid cell's centre."""
    lat_step = grid_m / 111_320.0
    cell_lat = (math.floor(lat / lat_step) + 0.5) * lat_step
    # The longitude step follows the cell's latitude, not the point's: from the point's, the
    # snapped longitude would reveal the exact latitude to a few metres.
    lon_step = grid_m / (111_320.0 * max(0.01, math.cos(math.radians(cell_lat))))
    cell_lon = (math.floor(lon / lon_step) + 0.5) * lon_step
    return round(max(-180, min(180, cell_lon)), 5), round(max(-90, min(90, cell_lat)), 5)
