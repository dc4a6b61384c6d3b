"""The grid-cell index parcel -> trips reads (matching_tripcell): its integer bounds, rounded
outward, and its octagons (bounding box and diagonal box) must never lose a fit, on routes in any
direction, at cell edges and in both hemispheres."""

import math
import random
from datetime import datetime, timedelta

import pytest
from django.contrib.gis.geos import LineString
from django.db import connection, transaction
from pyproj import Geod

from marketplace.lifecycle.posting import trip_create
from marketplace.matching import engine
from marketplace.matching.segments import CELL_M, cell_sql
from tests.factories.accounts import CourierFactory
from tests.factories.geo import pt
from tests.factories.matching import base_time, parcel_near

pytestmark = pytest.mark.django_db

GEOD = Geod(ellps="WGS84")
PLACES = {"berlin": (13.30, 52.52), "sydney": (151.21, -33.87), "quito": (-78.47, -0.18)}
STEP_M, STEPS = 2_500, 4  # a straight 10 km route, a vertex every 2.5 km


def _fwd(lonlat: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(lonlat[0], lonlat[1], azimuth, metres)
    return (lon, lat)


@pytest.fixture
def t0() -> datetime:
    """One departure time for the whole test: base_time() moves on with the clock, and a trip
    and a parcel a minute apart would not fit."""
    return base_time()


def _heading_trip(origin: tuple[float, float], azimuth: float, t0: datetime):  # type: ignore[no-untyped-def]
    """A bike trip (corridor 1 000 m) along a geodesic from `origin` towards `azimuth`."""
    points = [_fwd(origin, azimuth, i * STEP_M) for i in range(STEPS + 1)]
    return trip_create(
        courier=CourierFactory(),
        route=LineString(points, srid=4326),
        route_source="geojson",
        departure_earliest=t0,
        departure_latest=t0 + timedelta(minutes=10),
    )


def _parcel(pickup: tuple[float, float], dropoff: tuple[float, float], t0: datetime):  # type: ignore[no-untyped-def]
    return parcel_near(pickup_point=pt(pickup), dropoff_point=pt(dropoff), t0=t0)


def _trip_ids(parcel) -> set[int]:  # type: ignore[no-untyped-def]
    return {f.trip_id for f in engine.trips_for_parcel(parcel, limit=1_000)}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("azimuth", [45, 120, 225, 300, 10])
@pytest.mark.parametrize(("across_m", "fits"), [(990, True), (-990, True), (1_010, False)])
def test_diagonal_routes_keep_their_corridor(place, azimuth, across_m, fits, t0):
    # given a straight route in a direction where its bounding box is much wider than its
    # corridor: the diagonal box is what keeps the probe tight, and must not cut into the corridor
    origin = PLACES[place]
    trip = _heading_trip(origin, azimuth, t0)
    # when the pickup and the drop-off lie across the route from points 2 km and 8 km along it
    pickup = _fwd(_fwd(origin, azimuth, 2_000), azimuth + 90, across_m)
    dropoff = _fwd(_fwd(origin, azimuth, 8_000), azimuth + 90, across_m)
    parcel = _parcel(pickup, dropoff, t0)
    # then the engine finds the trip exactly when both are within the 1 000 m corridor
    assert (trip.pk in _trip_ids(parcel)) is fits


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("azimuth", [45, 200])
def test_points_all_around_the_route_ends_fit(place, azimuth, t0):
    # given a diagonal route; every point 980 m from its start or its end lies in its corridor,
    # in whichever direction (the octagon's corners and sides all lie outside that circle)
    origin = PLACES[place]
    trip = _heading_trip(origin, azimuth, t0)
    end = _fwd(origin, azimuth, STEPS * STEP_M)
    for k in range(16):
        around = azimuth + k * 22.5
        # when the pickup lies 980 m from the start and the drop-off 980 m from the end
        parcel = _parcel(_fwd(origin, around, 980), _fwd(end, around, 980), t0)
        # then the trip fits
        assert trip.pk in _trip_ids(parcel), f"direction {around} degrees"


def _cells_of_trip(trip_id: int) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT cell FROM matching_tripcell WHERE trip_id = %s", [trip_id])
        return {row[0] for row in cursor.fetchall()}


def _cell_of(lonlat: tuple[float, float]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {cell_sql('%(lon)s::float8', '%(lat)s::float8')}",
            {"lon": lonlat[0], "lat": lonlat[1]},
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("place", [*PLACES, "ushuaia"])
def test_cells_cover_the_corridor_and_skip_the_box_corners(place, t0):
    origin = {**PLACES, "ushuaia": (-68.30, -54.80)}[place]
    trip = _heading_trip(origin, 45, t0)
    cells = _cells_of_trip(trip.pk)
    # every point within the corridor (random, up to 1 000 m from a random point of the route)
    # lies in a listed cell
    rng = random.Random(place)
    for _ in range(300):
        on_route = _fwd(origin, 45, rng.uniform(0, STEPS * STEP_M))
        point = _fwd(on_route, rng.uniform(0, 360), rng.uniform(0, 1_000))
        assert _cell_of(point) in cells, point
    # and the cells in the far corners of the route's bounding box (its single piece runs 7 km
    # east and 7 km north), 5 km from the route, are not listed: the octagon leaves them out
    for corner in (_fwd(origin, 90, 7_000), _fwd(origin, 0, 7_000)):
        assert _cell_of(corner) not in cells, corner


def test_the_rebuild_leaves_the_callers_jit_setting_alone(t0):
    # given a transaction that wants JIT on
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = on")
        # when a trip (and so its matching index) is built in it
        trip = _heading_trip(PLACES["berlin"], 45, t0)
        # then the index is there, and the transaction still has JIT on
        assert _cells_of_trip(trip.pk)
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone()[0] == "on"


def test_points_on_cell_edges_fit(t0):
    # given a route due east along a row edge of the grid, and points exactly on cell edges
    row_deg = CELL_M / 111_000
    lat = 2_909 * row_deg  # a row edge near 52.4 degrees
    width = CELL_M / (111_000 * math.cos(math.radians((2_909 + 0.5) * row_deg)))
    lon = 450 * width  # a column edge near 13.3 degrees
    route = [(lon + i * width, lat) for i in range(-3, 9)]
    trip = trip_create(
        courier=CourierFactory(),
        route=LineString(route, srid=4326),
        route_source="geojson",
        departure_earliest=t0,
        departure_latest=t0 + timedelta(minutes=10),
    )
    # when the pickup and the drop-off lie on cell corners, on and off the route
    for pickup, dropoff in [
        ((lon, lat), (lon + 5 * width, lat)),
        ((lon + width, lat + row_deg / 4), (lon + 4 * width, lat - row_deg / 4)),
    ]:
        parcel = _parcel(pickup, dropoff, t0)
        # then the trip fits
        assert trip.pk in _trip_ids(parcel), (pickup, dropoff)
