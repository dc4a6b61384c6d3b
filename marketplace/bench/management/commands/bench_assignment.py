"""Time one batch assignment at 5 000 open parcels x 20 000 trips (the issue's target: the solve
under 2 s), on the synthetic city of `bench_matching`, with the greedy assignment of the same
fits as the baseline measured in the same run.

    make simulate   (runs this, then simulate_day)

The city's trips get 1-3 seats and 5-20 kg (contention); `batch_assign` then gathers each
parcel's best MATCHING_BATCH_FITS_PER_PARCEL fits through the engine, solves, and makes the
offers. Refuses to run unless the database name contains "bench" (or is a test database).
"""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.test.utils import override_settings

from marketplace.bench.matching.city import NOW, CitySpec, city_build, city_reset
from marketplace.bench.quiet import QuietCommand
from marketplace.lifecycle import assigning
from marketplace.matching import assignment

SOLVE_TARGET_S = 2.0


class Command(QuietCommand):
    help = "Time one batch assignment (5 000 parcels x 20 000 trips) against greedy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trips", type=int, default=20_000)
        parser.add_argument("--parcels", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        name = connection.settings_dict["NAME"]
        if "bench" not in name and not name.startswith("test_"):
            raise CommandError(f"Refusing to wipe {name!r}: use a scratch database (...bench...).")
        spec = CitySpec(
            trips=options["trips"], parcels=options["parcels"], center=(52.52, 13.405),
            seed=options["seed"],
        )  # fmt: skip
        city_reset()
        city_build(spec)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE trips_trip SET max_parcels = 1 + id % 3,"
                " max_weight_grams = 5000 + (id * 7919) % 15001"
            )
        timings: dict[str, float] = {}
        real_solve = assignment.solve

        def timed_solve(candidates: Any, rooms: Any, *, time_limit: float) -> Any:
            started = time.perf_counter()
            baseline = assignment.greedy(candidates, rooms)
            timings["greedy"] = time.perf_counter() - started
            timings["greedy_served"] = len(baseline)
            return real_solve(candidates, rooms, time_limit=time_limit)

        quiet = {
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
            "MATCHING_POLICY": "batch",
            "MATCHING_BATCH_MAX_PARCELS": max(5_000, spec.parcels),
        }
        # The greedy baseline runs on exactly the fits the batch gathered, inside its solve.
        with override_settings(**quiet), mock.patch.object(assigning, "solve", timed_solve):
            report = assigning.batch_assign(now=NOW)
        self.stdout.write(
            f"batch assignment: {report.parcels} parcels x {report.trips} trips with a fit"
            f" ({spec.trips} in the city), {report.fits} fits"
            f" ({settings.MATCHING_BATCH_FITS_PER_PARCEL} per parcel at most)"
        )
        self.stdout.write(f"  gathering the fits (engine): {report.fit_seconds:.2f} s")
        self.stdout.write(
            f"  solve ({report.method}{'' if report.optimal else ', not proven optimal'}):"
            f" {report.solve_seconds:.2f} s, {report.assigned} parcels assigned"
        )
        self.stdout.write(
            f"  greedy on the same fits: {timings.get('greedy', 0):.3f} s,"
            f" {int(timings.get('greedy_served', 0))} parcels assigned"
        )
        ratio = report.solve_seconds / timings["greedy"] if timings.get("greedy") else 0.0
        self.stdout.write(
            f"  solve / greedy time: {ratio:.1f}x; served solve / greedy:"
            f" {report.assigned / max(1, timings.get('greedy_served', 0)):.3f}"
        )
        self.stdout.write(
            f"target: solve < {SOLVE_TARGET_S} s: "
            + ("met" if report.solve_seconds < SOLVE_TARGET_S else "NOT met")
        )
