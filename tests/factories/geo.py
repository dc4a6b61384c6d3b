"""Fixed test coordinates: a small commute across Berlin, plus helpers to move a point by metres."""

import math

from django.contrib.gis.geos import LineString, Point

from marketplace.core.geo import EARTH_RADIUS_M

# Alexanderplatz -> Potsdamer Platz -> Charlottenburg (lon, lat)
ALEXANDERPLATZ = (13.4132, 52.5219)
POTSDAMER_PLATZ = (13.3759, 52.5096)
CHARLOTTENBURG = (13.3043, 52.5163)
KREUZBERG = (13.4030, 52.4986)


def pt(lonlat: tuple[float, float]) -> Point:
    return Point(*lonlat, srid=4326)


def offset(
    lonlat: tuple[float, float], *, north_m: float = 0, east_m: float = 0
) -> tuple[float, float]:
    lon, lat = lonlat
    metres_per_degree = EARTH_RADIUS_M * math.pi / 180
    dlat = north_m / metres_per_degree
    dlon = east_m / (metres_per_degree * math.cos(math.radians(lat)))
    return (lon + dlon, lat + dlat)


def commute_route() -> LineString:
    return LineString([ALEXANDERPLATZ, POTSDAMER_PLATZ, CHARLOTTENBURG], srid=4326)


def geojson_point(lonlat: tuple[float, float]) -> dict:
    return {"type": "Point", "coordinates": list(lonlat)}
