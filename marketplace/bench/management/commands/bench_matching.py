"""Benchmark the matching engine on a synthetic city, against plain GeoDjango and an oracle.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/waypost_bench python manage.py bench_matching

For each size (N trips = M parcels) it empties the scratch database, builds the city
(matching/management/benchcity.py), checks the engine against the brute-force oracle on a
sample, then times parcel -> trips and trip -> parcels for the engine and for the plain GeoDjango
baseline (matching/management/baseline.py) on the same random samples. See docs/bench.md.

It refuses to run unless the database name contains "bench" or starts with "test_": it wipes
users, trips and parcels.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from marketplace.accounts.models import VerificationStatus
from marketplace.bench.matching.baseline import (
    baseline_columns_add,
    baseline_columns_drop,
    baseline_parcels_for_trip,
    baseline_trips_for_parcel,
)
from marketplace.bench.matching.city import (
    HALF_SIDE_M,
    CityReport,
    CitySpec,
    city_build,
    city_reset,
    local_crs,
)
from marketplace.matching import engine
from marketplace.matching.oracle import (
    MATCHABLE,
    Oracle,
    OracleTrip,
    load_parcels,
    load_trips,
)
from marketplace.matching.segments import trip_segments_rebuild
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip

LIMIT = 50
WARMUP = 5
ALL = 1_000_000
# Trips whose matching index is rebuilt (and timed) after the latency series.
REBUILD_SAMPLES = 50
# Targets at the largest size (the issue): p95 in ms, and the speed-up over the baseline.
PARCEL_P95_MS = 20.0
PARCEL_SPEEDUP = 10.0
TRIP_P95_MS = 50.0
ORACLE_TRIPS_MAX = 5
ORACLE_NEAR_MARGIN_M = 5.0


@dataclass
class Series:
    ms: np.ndarray
    results: list[list[int]]


@dataclass
class Timing:
    engine_ms: np.ndarray
    baseline_ms: np.ndarray
    engine_fits: float
    baseline_fits: float
    same_results: int

    @classmethod
    def of(cls, engine: Series, baseline: Series) -> Timing:
        return cls(
            engine_ms=engine.ms,
            baseline_ms=baseline.ms,
            engine_fits=float(np.mean([len(r) for r in engine.results])),
            baseline_fits=float(np.mean([len(r) for r in baseline.results])),
            same_results=sum(
                set(e) == set(b) for e, b in zip(engine.results, baseline.results, strict=True)
            ),
        )

    def p(self, which: str, q: float) -> float:
        return float(np.percentile(getattr(self, f"{which}_ms"), q))


@dataclass
class OracleResult:
    parcels: int = 0
    trips: int = 0
    fits: int = 0
    borderline: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass
class SizeResult:
    size: int
    city: CityReport
    parcel_to_trips: Timing
    trip_to_parcels: Timing
    oracle: OracleResult


class Command(BaseCommand):
    help = (
        "Benchmark the matching engine on a synthetic city in a scratch database (name must "
        "contain 'bench'): engine vs plain GeoDjango latency, and engine vs brute-force oracle."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sizes", default="10000,100000", help="Comma-separated N (trips = parcels)."
        )
        parser.add_argument("--samples", type=int, default=200, help="Timed queries per series.")
        parser.add_argument(
            "--oracle-samples",
            type=int,
            default=20,
            help=f"Parcels checked against the oracle (and up to {ORACLE_TRIPS_MAX} trips).",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--center", default="52.52,13.405", help="LAT,LON of the city (default Berlin)."
        )
        parser.add_argument("--corridor", type=int, default=1000, help="Metres.")
        parser.add_argument(
            "--strict", action="store_true", help="Fail (exit 1) when a target is missed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name.lower() and not name.startswith("test_"):
            raise CommandError(
                f"Refusing to run on database {name!r}: bench_matching empties users, trips and "
                "parcels. Point DATABASE_URL at a scratch database whose name contains 'bench' "
                "(make bench uses waypost_bench)."
            )
        sizes = _parse_sizes(options["sizes"])
        center = _parse_center(options["center"])
        samples, oracle_samples = options["samples"], options["oracle_samples"]
        if samples < 1 or oracle_samples < 0:
            raise CommandError("--samples must be >= 1 and --oracle-samples >= 0.")
        corridor, seed = options["corridor"], options["seed"]
        if not 50 <= corridor <= 20_000:
            raise CommandError("--corridor must be between 50 and 20000 metres.")

        side_km = 2 * HALF_SIDE_M / 1000
        self.out(
            f"bench_matching: database {name}, centre {center[0]:.4f},{center[1]:.4f}, "
            f"{side_km:.0f} x {side_km:.0f} km, corridor {corridor} m, seed {seed}, "
            f"{samples} samples per series, "
            f"limit {LIMIT}"
        )
        self.out(f"machine: {os.cpu_count()} CPUs, load average {_load_average()}")
        if settings.DEBUG:
            self.out("note: DEBUG is on, so Django logs every query (make bench turns it off)")
        results: list[SizeResult] = []
        try:
            for size in sizes:
                spec = CitySpec(trips=size, parcels=size, center=center, corridor_m=corridor,
                                seed=seed)  # fmt: skip
                results.append(self.bench_size(spec, samples, oracle_samples))
        finally:
            baseline_columns_drop()
        self.verdict(results, strict=options["strict"])

    def out(self, line: str = "") -> None:
        self.stdout.write(line)
        self.stdout.flush()

    # --- one size ------------------------------------------------------------------------------

    def bench_size(self, spec: CitySpec, samples: int, oracle_samples: int) -> SizeResult:
        n = spec.trips
        self.out()
        self.out(f"=== {_n(n)} active trips x {_n(n)} open parcels ".ljust(100, "="))
        t0 = time.perf_counter()
        city_reset()
        baseline_columns_drop()  # the engine is measured on the app's own schema
        city = city_build(spec)
        city.seconds["reset"] = time.perf_counter() - t0 - city.total_s
        self.out(
            f"city: {_n(spec.couriers)} couriers, {_n(spec.shippers)} shippers, routes "
            f"{city.mean_route_m / 1000:.1f} km / {city.mean_vertices:.0f} vertices on average, "
            f"{_n(city.segments)} segments"
        )
        self.out(
            f"build: {city.total_s:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in city.seconds.items())
            + ")"
        )

        rng = np.random.default_rng([spec.seed, n, 7])
        parcels = _load(
            Parcel.objects.all(), rng.choice(np.arange(1, spec.parcels + 1), min(samples, n), False)
        )
        trips = _load(
            Trip.objects.select_related("courier__courier_profile"),
            rng.choice(np.arange(1, n + 1), min(samples, n), False),
        )

        t0 = time.perf_counter()
        oracle = self.check_oracle(spec, parcels[:oracle_samples], trips, oracle_samples)
        self.out(f"oracle: {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        p2t_engine = _timed(
            parcels, lambda p: [f.trip_id for f in engine.trips_for_parcel(p, limit=LIMIT)]
        )
        t2p_engine = _timed(
            trips, lambda t: [f.parcel_id for f in engine.parcels_for_trip(t, limit=LIMIT)]
        )
        self.out(f"engine timing: {time.perf_counter() - t0:.1f} s, load average {_load_average()}")

        t0 = time.perf_counter()
        baseline_columns_add()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) trips_trip, parcels_parcel")
        self.out(f"baseline geography columns and indexes: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        p2t_baseline = _timed(
            parcels,
            lambda p: baseline_trips_for_parcel(p, corridor_m=spec.corridor_m, limit=LIMIT),
        )
        t2p_baseline = _timed(trips, lambda t: baseline_parcels_for_trip(t, limit=LIMIT))
        elapsed = time.perf_counter() - t0
        self.out(f"baseline timing: {elapsed:.1f} s, load average {_load_average()}")
        self.out(_rebuild_timing(trips[:REBUILD_SAMPLES]))

        result = SizeResult(
            n,
            city,
            Timing.of(p2t_engine, p2t_baseline),
            Timing.of(t2p_engine, t2p_baseline),
            oracle,
        )
        self.table(result, len(parcels), len(trips))
        return result

    def table(self, r: SizeResult, n_parcels: int, n_trips: int) -> None:
        self.out()
        self.out(
            f"{'latency (ms)':<16}{'engine p50':>11}{'p95':>8}{'baseline p50':>14}{'p95':>8}"
            f"{'ratio p50':>11}{'p95':>8}{'fits engine':>13}{'baseline':>10}{'same':>10}"
        )
        for label, t, count in (
            ("parcel -> trips", r.parcel_to_trips, n_parcels),
            ("trip -> parcels", r.trip_to_parcels, n_trips),
        ):
            e50, e95, b50, b95 = (t.p(w, q) for w in ("engine", "baseline") for q in (50, 95))
            self.out(
                f"{label:<16}{e50:>11.2f}{e95:>8.2f}{b50:>14.1f}{b95:>8.1f}"
                f"{b50 / e50:>10.1f}x{b95 / e95:>7.1f}x{t.engine_fits:>13.1f}"
                f"{t.baseline_fits:>10.1f}{f'{t.same_results}/{count}':>10}"
            )
        o = r.oracle
        self.out(
            f"oracle: {o.parcels} parcels and {o.trips} trips checked, {o.fits} fits compared, "
            f"{o.borderline} borderline ignored: {'PASS' if o.passed else 'FAIL'}"
        )
        for line in o.differences:
            self.out(f"  oracle disagrees: {line}")

    # --- the oracle ----------------------------------------------------------------------------

    def check_oracle(
        self, spec: CitySpec, parcels: Sequence[Parcel], trips: Sequence[Trip], samples: int
    ) -> OracleResult:
        result = OracleResult()
        if samples == 0:
            return result
        lonlat = (spec.center[1], spec.center[0])
        oracle = Oracle(oracle_trips_all(), center=lonlat)
        for parcel in parcels:
            fits, borderline = oracle.check(load_parcels([parcel])[0])
            got = {f.trip_id for f in engine.trips_for_parcel(parcel, limit=ALL)}
            _compare(result, f"parcel {parcel.pk}", "trip", got, fits, borderline)
            result.parcels += 1

        # Trip -> parcels: every open parcel near the route (vectorised, generous margin), then
        # the oracle on each of those pairs.
        import shapely
        from pyproj import Transformer

        to_plane = Transformer.from_crs("EPSG:4326", local_crs(spec.center), always_xy=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, ST_X(pickup_point), ST_Y(pickup_point), ST_X(dropoff_point), "
                "ST_Y(dropoff_point) FROM parcels_parcel WHERE status = 'open' ORDER BY id"
            )
            rows = np.array(cursor.fetchall(), dtype=float).reshape(-1, 5)
        ids = rows[:, 0].astype(int)
        pickups = shapely.points(np.column_stack(to_plane.transform(rows[:, 1], rows[:, 2])))
        dropoffs = shapely.points(np.column_stack(to_plane.transform(rows[:, 3], rows[:, 4])))
        for trip in trips[: min(ORACLE_TRIPS_MAX, samples)]:
            (one,) = load_trips([trip])
            xs, ys = to_plane.transform([x for x, _ in one.route], [y for _, y in one.route])
            line = shapely.LineString(np.column_stack([xs, ys]))
            reach = one.corridor_m + ORACLE_NEAR_MARGIN_M
            near = (shapely.distance(line, pickups) <= reach) & (
                shapely.distance(line, dropoffs) <= reach
            )
            single = Oracle([one], center=lonlat)
            fits, borderline = set(), set()
            for p in load_parcels(Parcel.objects.filter(pk__in=ids[near].tolist())):
                fit, edge = single.check(p)
                if one.id in fit:
                    fits.add(p.id)
                elif one.id in edge:
                    borderline.add(p.id)
            got = {f.parcel_id for f in engine.parcels_for_trip(trip, limit=ALL)}
            _compare(result, f"trip {trip.pk}", "parcel", got, fits, borderline)
            result.trips += 1
        return result

    # --- the end -------------------------------------------------------------------------------

    def verdict(self, results: list[SizeResult], *, strict: bool) -> None:
        self.out()
        if not results:
            return
        last = results[-1]
        p2t, t2p = last.parcel_to_trips, last.trip_to_parcels
        p95, speed50, speed95 = (
            p2t.p("engine", 95),
            p2t.p("baseline", 50) / p2t.p("engine", 50),
            p2t.p("baseline", 95) / p2t.p("engine", 95),
        )
        t95 = t2p.p("engine", 95)
        checks = [
            (f"parcel -> trips p95 {p95:.2f} ms < {PARCEL_P95_MS:.0f} ms", p95 < PARCEL_P95_MS),
            (
                f"parcel -> trips {speed50:.1f}x (p50) / {speed95:.1f}x (p95) faster than the "
                f"baseline >= {PARCEL_SPEEDUP:.0f}x",
                min(speed50, speed95) >= PARCEL_SPEEDUP,
            ),
            (f"trip -> parcels p95 {t95:.2f} ms < {TRIP_P95_MS:.0f} ms", t95 < TRIP_P95_MS),
        ]
        self.out(f"targets at {_n(last.size)}:")
        for text, ok in checks:
            self.out(f"  {'PASS' if ok else 'TARGET MISSED'}: {text}")
        missed = [text for text, ok in checks if not ok]
        self.out(f"targets: {'PASS' if not missed else 'TARGET MISSED'}")
        failed = [r for r in results if not r.oracle.passed]
        fits = sum(r.oracle.fits for r in results)
        self.out(
            "oracle: "
            + ("PASS" if not failed else "FAIL")
            + f" ({fits} fits compared over {len(results)} size(s))"
        )
        if failed:
            raise CommandError(
                "The engine disagrees with the brute-force oracle at size(s) "
                + ", ".join(str(r.size) for r in failed)
                + " (pairs listed above)."
            )
        if missed and strict:
            raise CommandError("Target(s) missed: " + "; ".join(missed))


def _load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _parse_sizes(value: str | Sequence[int]) -> list[int]:
    try:
        sizes = [int(s) for s in value.split(",")] if isinstance(value, str) else list(value)
    except ValueError as exc:
        raise CommandError(f"--sizes: comma-separated integers, not {value!r}") from exc
    if not sizes or min(sizes) < 1:
        raise CommandError("--sizes: at least one size, each >= 1")
    return sizes


def _parse_center(value: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise CommandError(f"--center: LAT,LON in degrees, not {value!r}") from exc
    if not (-80 <= lat <= 80 and -179.5 <= lon <= 179.5):
        # Mercator (the engine) ends at 85 degrees; the area must not cross the antimeridian.
        raise CommandError("--center: latitude within +-80, longitude within +-179.5 degrees")
    return lat, lon


def _load(qs: Any, ids: np.ndarray) -> list[Any]:
    """The rows with these ids, in this order (loaded before any timing)."""
    by_id = {obj.pk: obj for obj in qs.filter(pk__in=ids.tolist())}
    return [by_id[i] for i in ids.tolist()]


def _timed(objs: Sequence[Any], run: Callable[[Any], list[int]]) -> Series:
    """End-to-end latency of `run` on each object, after a few warm-up calls."""
    for obj in objs[:WARMUP]:
        run(obj)
    ms, results = [], []
    for obj in objs:
        t0 = time.perf_counter()
        got = run(obj)
        ms.append((time.perf_counter() - t0) * 1000)
        results.append(got)
    return Series(np.array(ms), results)


def _rebuild_timing(trips: Sequence[Trip]) -> str:
    """What the index costs on the write path: rebuilding one trip's pieces, cells and measured
    route, as trip services do on every change (the same rows come back)."""
    ms = []
    for trip in trips:
        t0 = time.perf_counter()
        trip_segments_rebuild([trip.pk])  # in a transaction of its own
        ms.append((time.perf_counter() - t0) * 1000)
    return (
        f"index upkeep: one trip's pieces, cells and measured route rebuilt in "
        f"{np.percentile(ms, 50):.1f} ms p50, {np.percentile(ms, 95):.1f} ms p95 ({len(ms)} trips)"
    )


def oracle_trips_all() -> list[OracleTrip]:
    """Every trip as `oracle.load_trips` builds it, read with one query and shapely: the ORM
    path spends ~30 s on 100 000 routes (GEOS coordinates one by one). The bench test checks
    that both give the same."""
    import shapely

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, t.courier_id, ST_AsBinary(t.route), t.corridor_m, t.speed_kmh,"
            " t.departure_earliest, t.departure_latest, t.max_size_class,"
            " t.max_weight_grams - t.reserved_weight_grams, t.max_parcels - t.reserved_parcels,"
            " t.status = ANY(%s) AND cp.verification_status = %s"
            " FROM trips_trip t LEFT JOIN accounts_courierprofile cp ON cp.user_id = t.courier_id"
            " ORDER BY t.id",
            [list(MATCHABLE), VerificationStatus.VERIFIED.value],
        )
        rows = cursor.fetchall()
    if not rows:
        return []
    lines = shapely.from_wkb([bytes(r[2]) for r in rows])
    coords, index = shapely.get_coordinates(lines, return_index=True)
    cuts = np.flatnonzero(np.diff(index)) + 1
    routes = [list(map(tuple, c)) for c in np.split(coords, cuts)]
    return [
        OracleTrip(
            id=r[0],
            courier_id=r[1],
            route=route,
            corridor_m=r[3],
            speed_kmh=r[4],
            departure_earliest=r[5],
            departure_latest=r[6],
            max_size_class=r[7],
            free_weight_grams=r[8],
            free_parcels=r[9],
            matchable=bool(r[10]),
        )
        for r, route in zip(rows, routes, strict=True)
    ]


def _compare(
    result: OracleResult, subject: str, kind: str, got: set[int], fits: set[int], edge: set[int]
) -> None:
    result.fits += len(fits)
    result.borderline += len(edge)
    for missing in sorted(fits - got):
        result.differences.append(f"{subject}: oracle fits {kind} {missing}, engine misses it")
    for extra in sorted(got - fits - edge):
        result.differences.append(f"{subject}: engine returns {kind} {extra}, oracle says no")
