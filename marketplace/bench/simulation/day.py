"""One synthetic city day, drawn from a seed before anything touches the database, so that every
policy is run on exactly the same day.

The city is a disc (`RADIUS_M`) around a centre anywhere on Earth, in local metres (an azimuthal
equidistant projection around the centre, turned into longitude/latitude with pyproj):

- **Commuters** live anywhere in it and work either downtown (half of them, normally spread
  around the centre) or anywhere. Each posts two weekday commutes (home to work in the morning,
  back in the evening) as recurring trips, by bike, car or on foot / public transport, with the
  vehicle's usual room and corridor.
- **Parcels** are posted through the day (06:00-19:00 local). Most (`ALONG_COMMUTES`) go the way
  some commuter goes (near one's home to near one's work in the morning, the other way later in
  the day); the rest join two random places. Each can be picked up from 15 min to 2 h after it is
  posted, for 2-5 h, and delivered up to 3 h after that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

RADIUS_M = 12_000.0
DOWNTOWN_SIGMA_M = 2_500.0
MIN_COMMUTE_M = 2_000.0
ROUTE_VERTICES = 10
ROUTE_WOBBLE_M = 400.0
MORNING = (time(6, 30), 180)  # earliest local departure, then a spread of this many minutes
EVENING = (time(16, 0), 180)
DEPARTURE_FLEX_MINUTES = 30

VEHICLES = ("bike", "car", "foot")
VEHICLE_P = (0.45, 0.40, 0.15)
# Room per vehicle: parcels (a uniform choice), grams, size class, corridor in metres.
ROOM = {
    "bike": ((1, 2), 8_000, "M", 1_000),
    "car": ((2, 3, 4), 20_000, "L", 2_000),
    "foot": ((1,), 5_000, "S", 500),
}

POSTING = (time(6, 0), 13 * 60)  # first local posting time, then a spread in minutes
ALONG_COMMUTES = 0.65
END_SIGMA_M = 800.0
RANDOM_DISTANCE_M = (2_000.0, 12_000.0)
PICKUP_LEAD_MINUTES = (15, 120)
PICKUP_WINDOW_MINUTES = (120, 300)
DELIVERY_SLACK_MINUTES = 180
SIZES = ("S", "M", "L")
SIZE_P = (0.5, 0.35, 0.15)
WEIGHT_G = {"S": (200, 2_000), "M": (1_000, 5_000), "L": (3_000, 10_000)}


@dataclass(frozen=True)
class DaySpec:
    trips: int
    parcels: int
    center: tuple[float, float]  # (latitude, longitude)
    time_zone: str
    day: date
    seed: int = 1

    @property
    def commuters(self) -> int:
        return max(1, self.trips // 2)

    @property
    def shippers(self) -> int:
        return max(10, self.parcels // 20)

    def local(self, at: time) -> datetime:
        return datetime.combine(self.day, at, tzinfo=ZoneInfo(self.time_zone))


@dataclass(frozen=True)
class Commuter:
    index: int
    vehicle: str
    max_parcels: int
    max_weight_grams: int
    max_size_class: str
    corridor_m: int
    morning_route: list[tuple[float, float]]  # (lon, lat), home to work
    morning: time
    evening: time


@dataclass(frozen=True)
class ParcelPlan:
    index: int
    shipper: int
    posted_at: datetime
    pickup: tuple[float, float]  # (lon, lat)
    dropoff: tuple[float, float]
    pickup_window: tuple[datetime, datetime]
    delivery_window: tuple[datetime, datetime]
    size_class: str
    weight_grams: int
    declared_value: int


@dataclass(frozen=True)
class Day:
    spec: DaySpec
    commuters: list[Commuter]
    parcels: list[ParcelPlan]  # in posting order


def local_crs(center: tuple[float, float]) -> str:
    lat, lon = center
    return f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m"


def day_build(spec: DaySpec) -> Day:
    from pyproj import Transformer

    rng = np.random.default_rng([spec.seed, spec.trips, spec.parcels])
    to_lonlat = Transformer.from_crs(local_crs(spec.center), "EPSG:4326", always_xy=True)

    def lonlat(xy: np.ndarray) -> list[tuple[float, float]]:
        lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
        return [(round(float(a), 7), round(float(b), 7)) for a, b in zip(lon, lat, strict=True)]

    homes, works = _commutes(rng, spec.commuters)
    commuters = []
    for i in range(spec.commuters):
        vehicle = str(rng.choice(VEHICLES, p=VEHICLE_P))
        seats, grams, size, corridor = ROOM[vehicle]
        commuters.append(
            Commuter(
                index=i,
                vehicle=vehicle,
                max_parcels=int(rng.choice(seats)),
                max_weight_grams=grams,
                max_size_class=size,
                corridor_m=corridor,
                morning_route=lonlat(_route(rng, homes[i], works[i])),
                morning=_clock(rng, *MORNING),
                evening=_clock(rng, *EVENING),
            )
        )

    parcels = []
    first_post = spec.local(POSTING[0])
    posted = sorted(rng.uniform(0, POSTING[1] * 60, spec.parcels))
    for i, offset_s in enumerate(posted):
        posted_at = first_post + timedelta(seconds=round(float(offset_s)))
        lead = timedelta(minutes=int(rng.integers(*PICKUP_LEAD_MINUTES)))
        pickup_start = _round5(posted_at + lead)
        pickup_end = pickup_start + timedelta(minutes=int(rng.integers(*PICKUP_WINDOW_MINUTES)))
        delivery_end = pickup_end + timedelta(minutes=DELIVERY_SLACK_MINUTES)
        if rng.random() < ALONG_COMMUTES:
            c = int(rng.integers(spec.commuters))
            start, end = homes[c], works[c]
            if pickup_start.astimezone(ZoneInfo(spec.time_zone)).time() >= time(10):
                start, end = end, start  # the evening way
            a = start + rng.normal(0, END_SIGMA_M, 2)
            b = end + rng.normal(0, END_SIGMA_M, 2)
        else:
            a, b = _random_pair(rng)
        size = str(rng.choice(SIZES, p=SIZE_P))
        pickup, dropoff = lonlat(np.array([a, b]))
        parcels.append(
            ParcelPlan(
                index=i,
                shipper=int(rng.integers(spec.shippers)),
                posted_at=posted_at,
                pickup=pickup,
                dropoff=dropoff,
                pickup_window=(pickup_start, pickup_end),
                delivery_window=(pickup_start, delivery_end),
                size_class=size,
                weight_grams=int(rng.integers(*WEIGHT_G[size])),
                declared_value=int(rng.integers(20, 100)) * 100,
            )
        )
    return Day(spec=spec, commuters=commuters, parcels=parcels)


def _disc(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    a = rng.uniform(0, 2 * math.pi, n)
    return np.column_stack([r * np.cos(a), r * np.sin(a)])


def _commutes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    homes = _disc(rng, n, RADIUS_M)
    works = np.empty_like(homes)
    todo = np.arange(n)
    while todo.size:
        downtown = rng.random(todo.size) < 0.5
        w = np.where(
            downtown[:, None],
            rng.normal(0, DOWNTOWN_SIGMA_M, (todo.size, 2)),
            _disc(rng, todo.size, RADIUS_M),
        )
        ok = (np.hypot(*(w - homes[todo]).T) >= MIN_COMMUTE_M) & (np.hypot(*w.T) <= RADIUS_M)
        works[todo[ok]] = w[ok]
        todo = todo[~ok]
    return homes, works


def _route(rng: np.random.Generator, home: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Home to work with a gentle bend: a sine bump sideways of a random size and side."""
    f = np.linspace(0, 1, ROUTE_VERTICES)
    along = home + f[:, None] * (work - home)
    d = work - home
    normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1.0)
    bend = rng.uniform(-ROUTE_WOBBLE_M, ROUTE_WOBBLE_M) * np.sin(math.pi * f)
    return along + bend[:, None] * normal


def _random_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    while True:
        a = _disc(rng, 1, RADIUS_M)[0]
        heading = rng.uniform(0, 2 * math.pi)
        b = a + rng.uniform(*RANDOM_DISTANCE_M) * np.array([math.cos(heading), math.sin(heading)])
        if np.hypot(*b) <= RADIUS_M:
            return a, b


def _clock(rng: np.random.Generator, first: time, spread_minutes: int) -> time:
    minutes = first.hour * 60 + first.minute + 5 * int(rng.integers(0, spread_minutes // 5 + 1))
    return time(minutes // 60, minutes % 60)


def _round5(moment: datetime) -> datetime:
    extra = (5 - moment.minute % 5) % 5
    return (moment + timedelta(minutes=extra)).replace(second=0, microsecond=0)
