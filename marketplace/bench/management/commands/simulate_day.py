"""Simulate one city day under greedy and under batch assignment, on the same seeded day, and
the hindsight upper bound (docs/simulation.md).

    make simulate   (manage.py simulate_day on the scratch database)

Refuses to run unless the database name contains "bench" (or is a test database): every run
empties users, trips and parcels.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.test.utils import override_settings
from tqdm import tqdm

from marketplace.bench.quiet import QuietCommand
from marketplace.bench.simulation.behaviour import Acceptance
from marketplace.bench.simulation.bound import Bound, bound_solve
from marketplace.bench.simulation.day import Day, DaySpec, day_build
from marketplace.bench.simulation.running import DayRun, Outcome

POLICIES = ("greedy", "batch")
# The targets.
MORE_THAN_GREEDY = 1.10
OF_BOUND = 0.90


class WallClockBar(tqdm):  # type: ignore[type-arg]
    """tqdm timed by the wall clock: the simulation moves time.time() through the day."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._time = time.perf_counter
        self.start_t = self.last_print_t = time.perf_counter()


class Command(QuietCommand):
    help = "Simulate a city day under greedy and batch assignment and print the table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trips", type=int, default=2_000)
        parser.add_argument("--parcels", type=int, default=5_000)
        parser.add_argument("--large", action="store_true", help="20 000 trips and 50 000 parcels")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--lat", type=float, default=52.52)
        parser.add_argument("--lon", type=float, default=13.405)
        parser.add_argument("--time-zone", default="Europe/Berlin")
        parser.add_argument("--date", type=date.fromisoformat, default=date(2030, 6, 4))
        parser.add_argument("--policies", default=",".join(POLICIES))
        parser.add_argument("--no-bound", action="store_true")
        parser.add_argument("--bound-time-limit", type=float, default=120.0)

    def handle(self, *args: Any, **options: Any) -> None:
        name = connection.settings_dict["NAME"]
        if "bench" not in name and not name.startswith("test_"):
            raise CommandError(f"Refusing to wipe {name!r}: use a scratch database (...bench...).")
        if options["large"]:
            options["trips"], options["parcels"] = 20_000, 50_000
        policies = [p for p in options["policies"].split(",") if p]
        if not set(policies) <= set(POLICIES):
            raise CommandError(f"--policies takes some of {', '.join(POLICIES)}.")
        spec = DaySpec(
            trips=options["trips"],
            parcels=options["parcels"],
            center=(options["lat"], options["lon"]),
            time_zone=options["time_zone"],
            day=options["date"],
            seed=options["seed"],
        )
        if spec.day.weekday() > 4:
            raise CommandError("Pick a weekday: the commuters commute on weekdays.")
        acceptance = Acceptance(seed=spec.seed)
        day = day_build(spec)
        self._header(day, acceptance)

        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = True  # the real tasks, in this process
        try:
            outcomes, bound = self._simulate(day, acceptance, policies, options)
        finally:
            current_app.conf.task_always_eager = eager
        self._table(outcomes, bound)
        self._targets(outcomes, bound)

    def _simulate(
        self, day: Day, acceptance: Acceptance, policies: list[str], options: dict[str, Any]
    ) -> tuple[list[Outcome], Bound | None]:
        ttl = float(settings.MATCHING_OFFER_TTL_MINUTES)
        quiet: dict[str, Any] = {
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
            "PAYMENTS_REQUIRED": False,
            "RECURRING_TRIPS_HORIZON_DAYS": 0,
        }
        outcomes: list[Outcome] = []
        for policy in policies:
            with (
                override_settings(MATCHING_POLICY=policy, **quiet),
                WallClockBar(total=len(day.parcels), desc=f"{policy:>6}", unit="parcel") as bar,
            ):
                run = DayRun(
                    day,
                    policy=policy,
                    acceptance=acceptance,
                    batch_every=timedelta(seconds=settings.MATCHING_BATCH_SECONDS),
                    offer_ttl_minutes=ttl,
                    progress=bar.update,
                )
                outcomes.append(run.run())
        bound = None
        if not options["no_bound"]:
            self.stdout.write("hindsight bound: all fits of the day, one assignment ...")
            with override_settings(**quiet):
                bound = bound_solve(
                    day,
                    acceptance=acceptance,
                    offer_ttl_minutes=ttl,
                    time_limit=options["bound_time_limit"],
                )
        return outcomes, bound

    def _header(self, day: Day, acceptance: Acceptance) -> None:
        s = day.spec
        vehicles = {v: sum(c.vehicle == v for c in day.commuters) for v in ("bike", "car", "foot")}
        self.stdout.write(
            f"City day {s.day} ({s.time_zone}) around {s.center[0]:.4f}, {s.center[1]:.4f},"
            f" seed {s.seed}: {len(day.commuters)} commuters x 2 weekday commutes"
            f" = {2 * len(day.commuters)} trips ({vehicles}), {len(day.parcels)} parcels"
            f" posted 06:00-19:00 by {s.shippers} shippers."
        )
        self.stdout.write(f"Couriers: {acceptance.describe()}.")
        self.stdout.write(
            f"Offers valid {settings.MATCHING_OFFER_TTL_MINUTES} min; greedy offers each parcel"
            f" to {settings.MATCHING_OFFERS_PER_PARCEL} couriers; batch every"
            f" {settings.MATCHING_BATCH_SECONDS} s, {settings.MATCHING_BATCH_FITS_PER_PARCEL}"
            f" fits per parcel, solver limit {settings.MATCHING_BATCH_TIME_LIMIT} s."
        )

    def _table(self, outcomes: list[Outcome], bound: Bound | None) -> None:
        columns = [o.policy for o in outcomes] + (["bound"] if bound else [])
        rows: list[tuple[str, list[str]]] = [
            ("parcels posted", [f"{o.posted}" for o in outcomes]),
            ("delivered", [f"{o.delivered}" for o in outcomes]),
            ("expired unmatched", [f"{o.expired}" for o in outcomes]),
            ("share served", [f"{o.share:.1%}" for o in outcomes]),
            ("mean detour (m)", [f"{o.mean_detour_m:.0f}" for o in outcomes]),
            ("p95 detour (m)", [f"{o.p95_detour_m:.0f}" for o in outcomes]),
            ("pay per detour hour", [f"{o.pay_per_detour_hour:.2f}" for o in outcomes]),
            ("CO2 saved (kg)", [f"{o.co2_grams / 1000:.0f}" for o in outcomes]),
            ("offers made", [f"{o.offers}" for o in outcomes]),
            ("accepted / declined", [f"{o.accepted} / {o.declined}" for o in outcomes]),
            ("unanswered / too late", [f"{o.unanswered} / {o.conflicts}" for o in outcomes]),
            ("bundles taken whole", [f"{o.bundles_taken}" for o in outcomes]),
            ("run time (s)", [f"{o.seconds:.0f}" for o in outcomes]),
        ]
        if bound:
            extra = {
                "parcels posted": f"{outcomes[0].posted if outcomes else '-'}",
                "delivered": f"{bound.served}"
                + ("" if bound.optimal else f" (<= {bound.served_at_most})"),
                "share served": (f"{bound.served / outcomes[0].posted:.1%}" if outcomes else "-"),
                "run time (s)": f"{bound.seconds:.0f}",
            }
            rows = [(label, [*cells, extra.get(label, "")]) for label, cells in rows]
        width = max(12, *(len(c) for c in columns))
        self.stdout.write("")
        self.stdout.write(f"{'':<24}" + "".join(f"{c:>{width + 2}}" for c in columns))
        for label, cells in rows:
            self.stdout.write(f"{label:<24}" + "".join(f"{c:>{width + 2}}" for c in cells))
        if bound:
            self.stdout.write(
                f"\nbound: {bound.fits} fits in the day, {bound.acceptable_fits} a courier"
                f" would take; {bound.parcels_with_a_yes} parcels had one; solved by"
                f" {bound.method} in {bound.solve_seconds:.1f} s"
                f"{'' if bound.optimal else ', not proven optimal'}"
            )
        for o in outcomes:
            if o.batches:
                solves = sorted(b.solve_seconds for b in o.batches)
                largest = max(o.batches, key=lambda b: b.fits)
                self.stdout.write(
                    f"{o.policy}: {len(o.batches)} batches; solve p50"
                    f" {solves[len(solves) // 2] * 1000:.0f} ms, max {solves[-1] * 1000:.0f} ms;"
                    f" largest {largest.parcels} parcels x {largest.trips} trips"
                    f" ({largest.fits} fits); not optimal"
                    f" {sum(not b.optimal for b in o.batches)}"
                )

    def _targets(self, outcomes: list[Outcome], bound: Bound | None) -> None:
        by = {o.policy: o for o in outcomes}
        if "greedy" in by and "batch" in by:
            greedy, batch = by["greedy"], by["batch"]
            ratio = batch.delivered / greedy.delivered if greedy.delivered else float("inf")
            self.stdout.write(
                f"\nbatch / greedy delivered: {ratio:.3f} (target >= {MORE_THAN_GREEDY});"
                f" mean detour batch {batch.mean_detour_m:.0f} m vs greedy"
                f" {greedy.mean_detour_m:.0f} m (target: no worse)"
            )
        if bound and "batch" in by and bound.served:
            self.stdout.write(
                f"batch / bound: {by['batch'].delivered / bound.served:.3f} (target >= {OF_BOUND})"
            )
        self.stdout.write(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}")
