import pytest
from django.contrib.gis.geos import Point

from marketplace.core.geo import (
    GeometryError,
    approximate,
    haversine_m,
    line_from_geojson,
    line_from_polyline,
    point_from_geojson,
)


def test_point_from_geojson_keeps_lon_lat_order():
    point = point_from_geojson({"type": "Point", "coordinates": [-58.38, -34.60]})  # Buenos Aires
    assert (point.x, point.y, point.srid) == (-58.38, -34.60, 4326)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "Point", "coordinates": [181, 0]}, "longitude 181"),
        ({"type": "Point", "coordinates": [0, -90.5]}, "latitude -90.5"),
        ({"type": "Point", "coordinates": ["a", 1]}, "must be numbers"),
        ({"type": "Point", "coordinates": [1]}, "[longitude, latitude]"),
        ({"type": "Point", "coordinates": [float("nan"), 1]}, "finite"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "expected a GeoJSON Point"),
        ({"coordinates": [1, 2]}, "expected a GeoJSON Point"),
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a GeoJSON Point"),
    ],
)
def test_bad_points_are_refused_with_a_clear_message(data, message):
    with pytest.raises(GeometryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        point_from_geojson(data)


def test_linestring_from_geojson_and_its_errors():
    line = line_from_geojson(
        {"type": "LineString", "coordinates": [[151.2, -33.87], [151.25, -33.9]]}
    )
    assert line.num_points == 2 and line.srid == 4326
    for bad, msg in [
        ({"type": "LineString", "coordinates": [[0, 0]]}, "at least two"),
        ({"type": "LineString", "coordinates": [[0, 0], [0, 0]]}, "two distinct"),
        ({"type": "LineString", "coordinates": "x"}, "list of positions"),
        ({"type": "LineString", "coordinates": [[0, 0], [200, 0]]}, "position 1"),
    ]:
        with pytest.raises(GeometryError, match=msg):
            line_from_geojson(bad)


def test_polyline_decodes_to_lon_lat():
    # Google's documented example: (38.5, -120.2), (40.7, -120.95), (43.252, -126.453)
    line = line_from_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@")
    assert line.coords[0] == pytest.approx((-120.2, 38.5))
    assert line.coords[-1] == pytest.approx((-126.453, 43.252))
    with pytest.raises(GeometryError, match="empty"):
        line_from_polyline("")


def test_haversine_is_metric_anywhere_on_earth():
    # One degree of latitude is ~111.2 km at the equator and near the poles alike.
    assert haversine_m(Point(0, 0), Point(0, 1)) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(Point(10, -70), Point(10, -71)) == pytest.approx(111_195, rel=1e-3)
    # One degree of longitude shrinks with latitude.
    assert haversine_m(Point(0, 60), Point(1, 60)) == pytest.approx(55_597, rel=1e-3)


@pytest.mark.parametrize(
    "lonlat", [(13.4132, 52.5219), (-58.38, -34.60), (139.69, 35.69), (18.07, 59.33)]
)
def test_approximate_hides_the_exact_point_but_stays_near(lonlat):
    exact = Point(*lonlat, srid=4326)
    area = approximate(exact)
    assert area.coords != exact.coords
    assert haversine_m(exact, area) < 500
    # Every point of the area's grid cell maps to that same area: the exact spot is not leaked.
    cell_mates = [
        Point(area.x + dx, area.y + dy, srid=4326)
        for dx in (-0.0015, 0, 0.0015)
        for dy in (-0.0015, 0, 0.0015)
    ]
    assert {approximate(p).coords for p in cell_mates} == {area.coords}
