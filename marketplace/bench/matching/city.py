"""A synthetic city for `bench_matching`, written straight into the real tables.

A square area (30 x 30 km by default) around a centre anywhere on Earth: verified couriers with
active trips (3-25 km wobbly routes of 20-60 vertices, departures spread over 12 hours) and
shippers with open parcels (1-15 km apart, 2-hour windows). Everything is drawn with a seeded
numpy generator in local metres (an azimuthal equidistant projection around the centre), turned
into longitude/latitude with pyproj, and written with COPY; the database computes the generated
columns (Mercator copies, time ranges). The segment index is then built by the app's own
`trip_segments_rebuild`, exactly as trip services build it.

Only for scratch databases: `city_reset` empties users, trips, parcels and everything that hangs
off them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from psycopg import sql

from marketplace.matching.segments import trip_segments_rebuild

# A fixed clock: windows start at BASE and are spread over SPAN; rows are created at NOW.
BASE = datetime(2030, 6, 3, 6, 0, tzinfo=UTC)
NOW = BASE - timedelta(hours=1)
SPAN_S = 12 * 3600.0
HALF_SIDE_M = 15_000.0  # the area is 2 x HALF_SIDE_M wide and high

TRIP_LENGTH_M = (3_000.0, 25_000.0)
TRIP_VERTICES = (20, 60)
# Each step's heading wobbles around the trip's main heading by this much (radians, 1 sigma).
WOBBLE_RAD = 0.35
# Straight-line distance / path length of such a path: E[cos(wobble)] = exp(-sigma^2 / 2).
NET_FACTOR = math.exp(-(WOBBLE_RAD**2) / 2)
DEPARTURE_SLACK_S = 30 * 60.0
ARRIVAL_FACTOR = 1.3
SPEED_KMH = {"car": 25, "bike": 15}
MAX_PARCELS = 10
COURIER_MAX_WEIGHT_G = 500_000

PARCEL_DISTANCE_M = (1_000.0, 15_000.0)
WINDOW_S = 2 * 3600.0
DELIVERY_LAG_S = 60 * 60.0
SIZES = ("S", "M", "L", "XL")
SIZE_P = (0.4, 0.3, 0.2, 0.1)
SIZE_FACTOR = {"S": 1.0, "M": 1.3, "L": 1.7, "XL": 2.5}

SEGMENT_BATCH = 10_000
# Tables the bench fills; TRUNCATE ... CASCADE also empties whatever references them.
FILLED_TABLES = (
    "accounts_user",
    "accounts_courierprofile",
    "trips_trip",
    "parcels_parcel",
    "matching_tripsegment",
    "matching_tripcell",
    "matching_offer",
    "deliveries_delivery",
)


@dataclass(frozen=True)
class CitySpec:
    trips: int
    parcels: int
    center: tuple[float, float]  # (latitude, longitude)
    corridor_m: int = 1_000
    seed: int = 1

    @property
    def couriers(self) -> int:
        return min(3_000, max(10, self.trips // 30))

    @property
    def shippers(self) -> int:
        return min(3_000, max(10, self.parcels // 30))


@dataclass
class CityReport:
    seconds: dict[str, float] = field(default_factory=dict)
    segments: int = 0
    mean_route_m: float = 0.0
    mean_vertices: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def local_crs(center: tuple[float, float]) -> str:
    """Azimuthal equidistant projection around (lat, lon), in metres on WGS 84."""
    lat, lon = center
    return f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m"


def city_reset() -> None:
    """Empty the tables the bench fills (and, by CASCADE, everything that references them)."""
    with connection.cursor() as cursor:
        tables = ", ".join(connection.ops.quote_name(t) for t in FILLED_TABLES)
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def city_build(spec: CitySpec) -> CityReport:
    """Generate and write the city; return how long each step took."""
    from pyproj import Transformer

    rng = np.random.default_rng([spec.seed, spec.trips, spec.parcels])
    to_lonlat = Transformer.from_crs(local_crs(spec.center), "EPSG:4326", always_xy=True)
    report = CityReport()
    clock = _Clock(report)

    couriers, shippers = spec.couriers, spec.shippers
    courier_ids = np.arange(1, couriers + 1)
    # A tenth of the couriers also ship parcels, so "not your own parcel" is exercised.
    courier_shippers = courier_ids[: max(1, couriers // 10)]
    shipper_ids = np.concatenate(
        [np.arange(couriers + 1, couriers + shippers + 1), courier_shippers]
    )
    vehicles = rng.choice(["car", "bike"], size=couriers)
    _write_users(couriers, shippers, len(courier_shippers), vehicles, spec.corridor_m)
    clock.lap("users")

    trips = list(_trip_rows(rng, spec, to_lonlat, vehicles, report))
    clock.lap("trips: generate")
    _copy("trips_trip", TRIP_COLUMNS, trips)
    clock.lap("trips: COPY")

    parcels = list(_parcel_rows(rng, spec, to_lonlat, shipper_ids))
    clock.lap("parcels: generate")
    _copy("parcels_parcel", PARCEL_COLUMNS, parcels)
    clock.lap("parcels: COPY")

    # Ids were written explicitly: move the sequences past them, for rows added later.
    with connection.cursor() as cursor:
        for table, last in (
            ("accounts_user", couriers + shippers),
            ("accounts_courierprofile", couriers),
            ("trips_trip", spec.trips),
            ("parcels_parcel", spec.parcels),
        ):
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, last + 1]
            )
    for start in range(1, spec.trips + 1, SEGMENT_BATCH):
        trip_segments_rebuild(range(start, min(start + SEGMENT_BATCH, spec.trips + 1)))
    clock.lap("segments")

    with connection.cursor() as cursor:
        # VACUUM too: hint bits and the visibility map set, as in a steady-state database.
        cursor.execute(
            "VACUUM (ANALYZE) accounts_user, accounts_courierprofile, trips_trip, "
            "parcels_parcel, matching_tripsegment, matching_tripcell"
        )
        cursor.execute("SELECT count(*) FROM matching_tripsegment")
        report.segments = cursor.fetchone()[0]
    clock.lap("vacuum analyze")
    return report


class _Clock:
    def __init__(self, report: CityReport) -> None:
        self.report, self.t = report, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = now - self.t
        self.t = now


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with connection.cursor() as cursor, cursor.connection.cursor() as pg, pg.copy(statement) as cp:
        for row in rows:
            cp.write_row(row)


def _endpoints(rng: np.random.Generator, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and headings such that start + distance along the heading stays in the area."""
    n = len(distance)
    start = np.empty((n, 2))
    heading = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        s = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, (todo.size, 2))
        a = rng.uniform(0, 2 * math.pi, todo.size)
        end = s + distance[todo, None] * np.column_stack([np.cos(a), np.sin(a)])
        ok = (np.abs(end) <= HALF_SIDE_M).all(axis=1)
        start[todo[ok]], heading[todo[ok]] = s[ok], a[ok]
        todo = todo[~ok]
    return start, heading


def _hex_ewkb(geoms: np.ndarray) -> list[str]:
    import shapely

    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True).tolist()


def _times(offsets_s: np.ndarray) -> list[datetime]:
    return [BASE + timedelta(seconds=s) for s in np.round(offsets_s, 6).tolist()]


def _write_users(
    couriers: int, shippers: int, courier_shippers: int, vehicles: np.ndarray, corridor_m: int
) -> None:
    users = []
    for i in range(1, couriers + shippers + 1):
        courier = i <= couriers
        kind = "courier" if courier else "shipper"
        # "!" is Django's unusable password: nobody can log in as a bench user.
        users.append((
            i, "!", False, f"bench-{kind}-{i}@bench.invalid", f"Bench {kind.title()} {i}", "",
            not courier or i <= courier_shippers, courier, False, True, NOW,
        ))  # fmt: skip
    _copy("accounts_user", USER_COLUMNS, users)
    profiles = [
        (i, NOW, NOW, vehicles[i - 1], "XL", COURIER_MAX_WEIGHT_G, corridor_m, "verified", NOW,
         "", i, 100)
        for i in range(1, couriers + 1)
    ]  # fmt: skip
    _copy("accounts_courierprofile", PROFILE_COLUMNS, profiles)


USER_COLUMNS = (
    "id", "password", "is_superuser", "email", "full_name", "phone",
    "is_shipper", "is_courier", "is_staff", "is_active", "date_joined",
)  # fmt: skip
PROFILE_COLUMNS = (
    "id", "created_at", "updated_at", "vehicle_type", "max_size_class", "max_weight_grams",
    "corridor_m", "verification_status", "verified_at", "verification_note", "user_id",
    "reliability_score",
)  # fmt: skip
TRIP_COLUMNS = (
    "id", "created_at", "updated_at", "status", "vehicle_type", "origin", "origin_label",
    "destination", "destination_label", "route", "route_source", "route_length_m",
    "departure_earliest", "departure_latest", "arrival_latest", "max_size_class",
    "max_weight_grams", "max_parcels", "corridor_m", "courier_id", "reserved_parcels",
    "reserved_weight_grams", "speed_kmh",
)  # fmt: skip
PARCEL_COLUMNS = (
    "id", "created_at", "updated_at", "status", "description", "size_class", "weight_grams",
    "declared_value", "photo", "pickup_point", "pickup_address", "pickup_contact_name",
    "pickup_contact_phone", "pickup_window_start", "pickup_window_end", "dropoff_point",
    "dropoff_address", "dropoff_contact_name", "dropoff_contact_phone", "delivery_window_start",
    "delivery_window_end", "currency", "distance_m", "price_total", "platform_fee",
    "courier_share", "published_at", "shipper_id",
)  # fmt: skip


def _trip_rows(
    rng: np.random.Generator,
    spec: CitySpec,
    to_lonlat: Any,
    vehicles: np.ndarray,
    report: CityReport,
) -> Iterable[tuple[Any, ...]]:
    import shapely

    n = spec.trips
    length = rng.uniform(*TRIP_LENGTH_M, n)
    vertices = rng.integers(TRIP_VERTICES[0], TRIP_VERTICES[1] + 1, n)
    start, heading = _endpoints(rng, length * NET_FACTOR)

    # Steps of uneven length (summing to the trip's length), each wobbling around the heading.
    steps = vertices - 1
    step_trip = np.repeat(np.arange(n), steps)
    weight = rng.uniform(0.5, 1.5, step_trip.size)
    step_len = weight / np.bincount(step_trip, weights=weight)[step_trip] * length[step_trip]
    angle = heading[step_trip] + rng.normal(0, WOBBLE_RAD, step_trip.size)
    first_step = np.concatenate([[0], np.cumsum(steps)[:-1]])
    first_vertex = first_step + np.arange(n)  # trip i's vertices start here
    xy = np.empty((int(vertices.sum()), 2))
    xy[first_vertex] = start
    for k, d in enumerate((np.cos(angle), np.sin(angle))):
        walked = np.cumsum(step_len * d)
        before = np.concatenate([[0], walked])[first_step]  # walked before the trip's first step
        local = np.arange(step_trip.size) - first_step[step_trip]
        target = first_vertex[step_trip] + 1 + local
        xy[target, k] = start[step_trip, k] + walked - before[step_trip]
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    vertex_trip = np.repeat(np.arange(n), vertices)
    routes = _hex_ewkb(shapely.linestrings(np.column_stack([lon, lat]), indices=vertex_trip))
    last_vertex = first_vertex + vertices - 1
    origins = _hex_ewkb(shapely.points(lon[first_vertex], lat[first_vertex]))
    destinations = _hex_ewkb(shapely.points(lon[last_vertex], lat[last_vertex]))
    report.mean_route_m, report.mean_vertices = float(length.mean()), float(vertices.mean())

    courier = rng.integers(1, spec.couriers + 1, n)
    vehicle = vehicles[courier - 1]
    speed = np.where(vehicle == "car", SPEED_KMH["car"], SPEED_KMH["bike"])
    earliest = rng.uniform(0, SPAN_S, n)
    latest = earliest + rng.uniform(0, DEPARTURE_SLACK_S, n)
    arrival = latest + length / (speed / 3.6) * ARRIVAL_FACTOR
    columns = (
        range(1, n + 1),
        vehicle.tolist(),
        origins,
        destinations,
        routes,
        np.round(length).astype(int).tolist(),
        _times(earliest),
        _times(latest),
        _times(arrival),
        courier.tolist(),
        speed.tolist(),
    )
    for i, veh, origin, dest, route, metres, dep_e, dep_l, arr, courier_id, kmh in zip(
        *columns, strict=True
    ):
        yield (
            i, NOW, NOW, "active", veh, origin, "Bench origin", dest, "Bench destination",
            route, "geojson", metres, dep_e, dep_l, arr, "XL", COURIER_MAX_WEIGHT_G,
            MAX_PARCELS, spec.corridor_m, courier_id, 0, 0, kmh,
        )  # fmt: skip


def _parcel_rows(
    rng: np.random.Generator, spec: CitySpec, to_lonlat: Any, shipper_ids: np.ndarray
) -> Iterable[tuple[Any, ...]]:
    import shapely
    from pyproj import Geod

    m = spec.parcels
    apart = rng.uniform(*PARCEL_DISTANCE_M, m)
    pickup, heading = _endpoints(rng, apart)
    dropoff = pickup + apart[:, None] * np.column_stack([np.cos(heading), np.sin(heading)])
    pu_lon, pu_lat = to_lonlat.transform(pickup[:, 0], pickup[:, 1])
    dr_lon, dr_lat = to_lonlat.transform(dropoff[:, 0], dropoff[:, 1])
    distance = Geod(ellps="WGS84").inv(pu_lon, pu_lat, dr_lon, dr_lat)[2]
    pickups = _hex_ewkb(shapely.points(pu_lon, pu_lat))
    dropoffs = _hex_ewkb(shapely.points(dr_lon, dr_lat))

    pw_start = rng.uniform(0, SPAN_S, m)
    dw_start = pw_start + rng.uniform(0, DELIVERY_LAG_S, m)
    size = rng.choice(SIZES, size=m, p=SIZE_P)
    weight = rng.integers(100, 20_001, m)
    declared = rng.integers(10, 501, m) * 100
    shipper = rng.choice(shipper_ids, size=m)

    # The quote as parcels.quotes computes it (tariff from settings), half-up rounding.
    raw = (
        settings.QUOTE_BASE_FEE
        + settings.QUOTE_PER_KM * distance / 1000
        + settings.QUOTE_PER_KG * weight / 1000
    )
    lead_h = (dw_start + WINDOW_S + (BASE - NOW).total_seconds()) / 3600
    urgency = np.select([lead_h <= 4, lead_h <= 24], [1.5, 1.2], 1.0)
    factor = np.vectorize(SIZE_FACTOR.__getitem__)(size)
    total = np.maximum(settings.QUOTE_MINIMUM, np.floor(raw * factor * urgency + 0.5)).astype(int)
    fee = np.floor(total * settings.QUOTE_PLATFORM_FEE_PERCENT / 100 + 0.5).astype(int)

    columns = (
        range(1, m + 1),
        size.tolist(),
        weight.tolist(),
        declared.tolist(),
        pickups,
        _times(pw_start),
        _times(pw_start + WINDOW_S),
        dropoffs,
        _times(dw_start),
        _times(dw_start + WINDOW_S),
        np.round(distance).astype(int).tolist(),
        total.tolist(),
        fee.tolist(),
        shipper.tolist(),
    )
    currency = settings.MARKETPLACE_CURRENCY
    for i, sz, grams, value, pu, pws, pwe, dr, dws, dwe, metres, price, cut, by in zip(
        *columns, strict=True
    ):
        yield (
            i, NOW, NOW, "open", f"Bench parcel {i}", sz, grams, value, "",
            pu, f"Bench pickup {i}", "Bench Sender", "+49 30 0000000", pws, pwe,
            dr, f"Bench drop-off {i}", "Bench Receiver", "+49 30 0000001", dws, dwe,
            currency, metres, price, cut, price - cut, NOW, by,
        )  # fmt: skip
