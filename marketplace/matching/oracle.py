"""A brute-force oracle for the matching engine: every (trip, parcel) pair checked one by one
with shapely in an azimuthal equidistant projection centred on the city (pyproj, WGS 84
ellipsoid: across 30 km its distances are true to about a millimetre).

Used by the tests and by `bench_matching` to prove the engine right. It needs the dev
dependencies (shapely, pyproj), imported lazily so production never loads them.

Pairs within a hair of a rule's edge (1 m of the corridor, 1 m between pickup and drop-off
positions, 2 s of a window) are reported as borderline and left out of comparisons: two correct
implementations may round them differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from marketplace.accounts.models import VerificationStatus
from marketplace.core.sizes import SizeClass
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip

DISTANCE_EPS_M = 1.0
POSITION_EPS_M = 1.0
TIME_EPS = timedelta(seconds=2)
MATCHABLE = ("planned", "active")


@dataclass(frozen=True)
class OracleTrip:
    id: int
    courier_id: int
    route: list[tuple[float, float]]
    corridor_m: int
    speed_kmh: int
    departure_earliest: datetime
    departure_latest: datetime
    max_size_class: str
    free_weight_grams: int
    free_parcels: int
    matchable: bool  # status planned/active and the courier verified


@dataclass(frozen=True)
class OracleParcel:
    id: int
    shipper_id: int
    pickup: tuple[float, float]
    dropoff: tuple[float, float]
    size_class: str
    weight_grams: int
    pickup_window: tuple[datetime, datetime]
    delivery_window: tuple[datetime, datetime]
    open: bool


def load_trips(trips: Iterable[Trip]) -> list[OracleTrip]:
    return [
        OracleTrip(
            id=t.pk,
            courier_id=t.courier_id,
            route=[(x, y) for x, y in t.route.coords],
            corridor_m=t.corridor_m,
            speed_kmh=t.speed_kmh,
            departure_earliest=t.departure_earliest,
            departure_latest=t.departure_latest,
            max_size_class=t.max_size_class,
            free_weight_grams=t.free_weight_grams,
            free_parcels=t.free_parcels,
            matchable=t.status in MATCHABLE
            and t.courier.courier_profile.verification_status == VerificationStatus.VERIFIED,
        )
        for t in trips
    ]


def load_parcels(parcels: Iterable[Parcel]) -> list[OracleParcel]:
    return [
        OracleParcel(
            id=p.pk,
            shipper_id=p.shipper_id,
            pickup=(p.pickup_point.x, p.pickup_point.y),
            dropoff=(p.dropoff_point.x, p.dropoff_point.y),
            size_class=p.size_class,
            weight_grams=p.weight_grams,
            pickup_window=(p.pickup_window_start, p.pickup_window_end),
            delivery_window=(p.delivery_window_start, p.delivery_window_end),
            open=p.status == ParcelStatus.OPEN,
        )
        for p in parcels
    ]


class Oracle:
    def __init__(self, trips: list[OracleTrip], *, center: tuple[float, float]) -> None:
        import numpy as np
        import shapely
        from pyproj import Transformer

        self._np, self._shapely = np, shapely
        self._to_plane = Transformer.from_crs(
            "EPSG:4326",
            f"+proj=aeqd +lat_0={center[1]} +lon_0={center[0]} +datum=WGS84 +units=m",
            always_xy=True,
        )
        self.trips = trips
        self.lines = np.array(
            [shapely.LineString(self._project(t.route)) for t in trips], dtype=object
        )

    def _project(self, coords: list[tuple[float, float]] | tuple[tuple[float, float], ...]) -> Any:
        xs, ys = self._to_plane.transform([c[0] for c in coords], [c[1] for c in coords])
        return list(zip(xs, ys, strict=True))

    def check(
        self, parcel: OracleParcel, *, now: datetime | None = None
    ) -> tuple[set[int], set[int]]:
        """Trip ids the parcel surely fits (at `now`, by default the clock's), and trip ids too
        close to an edge to tell."""
        now = now or datetime.now(UTC)
        np, shapely = self._np, self._shapely
        pickup, dropoff = (
            shapely.Point(xy) for xy in self._project([parcel.pickup, parcel.dropoff])
        )
        d_p = shapely.distance(self.lines, pickup)
        d_d = shapely.distance(self.lines, dropoff)
        corridor = np.array([t.corridor_m for t in self.trips], dtype=float)
        near = (d_p <= corridor + DISTANCE_EPS_M) & (d_d <= corridor + DISTANCE_EPS_M)
        fits: set[int] = set()
        borderline: set[int] = set()
        for i in np.flatnonzero(near):
            trip = self.trips[i]
            verdict = self._pair(trip, parcel, self.lines[i], pickup, dropoff, d_p[i], d_d[i], now)
            if verdict == "fit":
                fits.add(trip.id)
            elif verdict == "borderline":
                borderline.add(trip.id)
        return fits, borderline

    def _pair(
        self,
        trip: OracleTrip,
        parcel: OracleParcel,
        line: Any,
        pickup: Any,
        dropoff: Any,
        d_p: float,
        d_d: float,
        now: datetime,
    ) -> str:
        if not (trip.matchable and parcel.open) or trip.courier_id == parcel.shipper_id:
            return "no"
        if SizeClass.rank(parcel.size_class) > SizeClass.rank(trip.max_size_class):
            return "no"
        if parcel.weight_grams > trip.free_weight_grams or trip.free_parcels < 1:
            return "no"
        pos_p, pos_d = line.project(pickup), line.project(dropoff)
        if pos_d - pos_p <= -POSITION_EPS_M:
            return "no"
        speed = trip.speed_kmh / 3.6
        t_p, t_d = timedelta(seconds=pos_p / speed), timedelta(seconds=pos_d / speed)
        lo = max(
            trip.departure_earliest,
            parcel.pickup_window[0] - t_p,
            parcel.delivery_window[0] - t_d,
            now - t_p,  # not past the pickup already
        )
        hi = min(
            trip.departure_latest, parcel.pickup_window[1] - t_p, parcel.delivery_window[1] - t_d
        )
        if hi < lo - TIME_EPS:
            return "no"
        near_edge = (
            max(d_p, d_d) > trip.corridor_m - DISTANCE_EPS_M
            or abs(pos_d - pos_p) < POSITION_EPS_M
            or abs(hi - lo) < TIME_EPS
        )
        return "borderline" if near_edge else "fit"
