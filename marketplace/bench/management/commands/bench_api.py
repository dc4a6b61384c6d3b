"""The REST API under a bounded load from a separate process, beside a bare DRF view on the same
server, in one run.

    make bench-api   (manage.py bench_api on the scratch database)

Seeds couriers with a delivery in transit and a shipper with `--parcels` parcels in several
states (bench/rest/seed.py), starts `uvicorn config.asgi:application` (bench/live/server.py: local
settings with DEBUG off, this database, eager Celery, the Redis channel layer) with
BENCH_BARE_VIEW=true, and runs the load generator (bench/rest/loadgen.py, aiohttp) in its own
process against three endpoints:

  bare         GET /api/v1/bench/bare/: a tiny JSON, with the API's defaults (JWT, IsAuthenticated,
               the throttles), so the comparison leaves out what every API call pays
  parcel list  GET /api/v1/parcels/: the shipper's list (JWT), its first page
  batch pings  POST /api/v1/courier/deliveries/<id>/pings/: `--batch` pings per request, one
               courier per in-flight request (each phone waits for its answer)

`--concurrency` requests in flight, a warm-up of each endpoint, then `--rounds` rounds of
`--seconds` per endpoint, alternately (this machine's noise moves single phases by a fifth: the
median of the rounds' ratios is the figure). The user throttle's rate is raised in the server's
environment (API_THROTTLE_USER), so the throttle runs but refuses nothing. Target (issue 13):
the parcel list at >= 50 % of the bare view's rate, and no errors (non-2xx or exceptions).
Refuses to run unless the database name contains "bench" or starts with "test_": it adds users,
parcels and deliveries.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
from celery import current_app
from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.bench.live.seed import PICKUP_EAST_M
from marketplace.bench.live.server import uvicorn_server
from marketplace.bench.quiet import QuietCommand
from marketplace.bench.rest.bare import BARE_PATH
from marketplace.bench.rest.seed import Seeded, seed
from marketplace.bench.scratch import require_scratch
from marketplace.core.geo import EARTH_RADIUS_M

TARGET_RATIO = 0.5
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
# The user throttle stays on (it is part of every API call) but never refuses during the run.
THROTTLE_RATE = "1000000/s"
ORDER = ("bare", "parcels", "pings")
LABELS = {"bare": "bare view", "parcels": "parcel list", "pings": "batch pings"}
LIST_PATH = "/api/v1/parcels/"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def _first_error(log: Path, lines: int = 30) -> str:
    """The server log from its first ERROR line (what explains a 500), or its last lines."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    first = next((i for i, line in enumerate(text) if " ERROR " in line), len(text) - lines)
    return "\n".join(text[max(first, 0) : max(first, 0) + lines])


def _rate(phase: dict[str, Any]) -> float:
    return float(phase["requests"] / phase["seconds"]) if phase["seconds"] else 0.0


class Command(QuietCommand):
    help = "REST API under load (parcel list, batch pings) beside a bare DRF view (see module)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--parcels", type=int, default=120, help="the shipper's parcels")
        parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
        parser.add_argument("--seconds", type=float, default=4.0, help="per endpoint and round")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
        parser.add_argument("--batch", type=int, default=10, help="pings per request")
        parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
        parser.add_argument("--settings-module", default="config.settings.local")
        parser.add_argument("--redis-url", default=settings.REDIS_URL or DEFAULT_REDIS_URL)
        parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")

    def handle(self, *args: Any, **options: Any) -> None:
        redis_url = options["redis_url"]
        require_scratch(redis_url)
        name = connection.settings_dict["NAME"]
        if not 2 <= options["parcels"] <= 1_000:
            raise CommandError("--parcels must be between 2 and 1000.")
        if not 1 <= options["concurrency"] <= 100:
            raise CommandError("--concurrency must be between 1 and 100.")
        out = self.stdout.write
        out(
            f"bench_api on database {name}, Redis {redis_url}, {os.cpu_count()} CPUs;"
            f" load average before: {_load()}"
        )

        started = time.perf_counter()
        seeded = self._seed(options)
        states = ", ".join(f"{s} {n}" for s, n in sorted(seeded.parcels.items()))
        out(
            f"seeded {len(seeded.deliveries)} couriers with a delivery in transit and a shipper"
            f" with {sum(seeded.parcels.values())} parcels ({states})"
            f" in {time.perf_counter() - started:.1f} s"
        )
        spec = self._spec(seeded, options)
        connection.close()  # the server has its own connections; keep ours out of the way

        extra_env = {
            "DJANGO_DEBUG": "false",
            # The server checks the JWTs this process signed (the same key under any settings).
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "BENCH_BARE_VIEW": "true",
            # The connection pool (off by default: docs/setup.md says why) is what it measures.
            "DATABASE_POOL": os.environ.get("DATABASE_POOL", "true"),
            "API_THROTTLE_USER": THROTTLE_RATE,
            "CHANNEL_LAYER_PREFIX": f"waypost-bench-api-{os.getpid()}",
        }
        with uvicorn_server(
            settings_module=options["settings_module"],
            redis_url=redis_url,
            workers=options["workers"],
            extra_env=extra_env,
        ) as server:
            out(
                f"uvicorn config.asgi:application, {options['workers']} worker(s), DEBUG off,"
                f" on {server.http_url}"
            )
            self._preflight(server.http_url, spec)
            spec["base_url"] = server.http_url
            result = self._generate(spec, server.log_tail)
            errors = [e for phases in result["rounds"] for p in phases for e in p["errors"]]
            errors += [e for p in result["warmup"] for e in p["errors"]]
            log_tail = _first_error(server.log) if errors else ""
        self._print(result, seeded, options)
        if log_tail:
            out(f"uvicorn log, from its first error:\n{log_tail}")
        out(f"load average after: {_load()}")

    @staticmethod
    def _seed(options: dict[str, Any]) -> Seeded:
        # As the server runs them: Celery tasks (matching after posting) in this process.
        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = True
        try:
            seeded = seed(couriers=options["concurrency"], parcels=options["parcels"])
        finally:
            current_app.conf.task_always_eager = eager
        # As autovacuum would (this machine's PostgreSQL runs without it): fresh statistics.
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE accounts_user, parcels_parcel, deliveries_delivery,"
                " tracking_locationping, tracking_liveposition"
            )
        return seeded

    @staticmethod
    def _spec(seeded: Seeded, options: dict[str, Any]) -> dict[str, Any]:
        shipper_token = str(AccessToken.for_user(seeded.shipper))
        metres_per_degree = EARTH_RADIUS_M * math.pi / 180
        couriers = [
            {
                "delivery_id": live.delivery_id,
                "token": str(AccessToken.for_user(live.courier)),
                "lon": live.start[0],
                "lat": live.start[1],
                "lon_per_m": 1 / (metres_per_degree * math.cos(math.radians(live.start[1]))),
                "east_m": PICKUP_EAST_M,
            }
            for live in seeded.deliveries
        ]
        return {
            "concurrency": options["concurrency"],
            "seconds": options["seconds"],
            "warmup_seconds": options["warmup"],
            "rounds": options["rounds"],
            "order": list(ORDER),
            "targets": {
                "bare": {"path": "/" + BARE_PATH, "tokens": [shipper_token]},
                "parcels": {
                    "path": LIST_PATH,
                    "tokens": [shipper_token],
                    "expect_count": sum(seeded.parcels.values()),
                },
                "pings": {"kind": "pings", "batch": options["batch"], "couriers": couriers},
            },
        }

    @staticmethod
    def _preflight(base_url: str, spec: dict[str, Any]) -> None:
        """One request per GET endpoint before the load: a bare view that is not mounted, or a
        token the server refuses, is a setup error, not a benchmark figure."""
        for name in ("bare", "parcels"):
            target = spec["targets"][name]
            response = requests.get(
                base_url + target["path"],
                headers={"Authorization": f"Bearer {target['tokens'][0]}"},
                timeout=10,
            )
            if response.status_code != 200:
                raise CommandError(
                    f"{name}: GET {target['path']} answered {response.status_code}:"
                    f" {response.text[:300]}"
                )

    @staticmethod
    def _generate(spec: dict[str, Any], log_tail: Any) -> dict[str, Any]:
        phases = len(ORDER) * (spec["rounds"] + 1)
        limit = 60 + phases * (max(spec["seconds"], spec["warmup_seconds"]) + 15)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "marketplace.bench.rest.loadgen"],
                input=json.dumps(spec).encode(),
                capture_output=True,
                cwd=settings.BASE_DIR,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandError(f"the load generator ran over {limit:.0f} s") from exc
        if done.returncode != 0:
            raise CommandError(
                f"the load generator failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')[-3000:]}\nuvicorn log:\n{log_tail()}"
            )
        return dict(json.loads(done.stdout))

    def _print(self, result: dict[str, Any], seeded: Seeded, options: dict[str, Any]) -> None:
        out = self.stdout.write
        rounds: list[list[dict[str, Any]]] = result["rounds"]
        concurrency, seconds = options["concurrency"], options["seconds"]
        out(
            f"\nload: a separate process (aiohttp), {concurrency} requests in flight;"
            f" {options['warmup']:g} s warm-up per endpoint, then {len(rounds)} rounds of"
            f" {seconds:g} s per endpoint, alternately"
        )
        out(
            f"  bare view    GET /{BARE_PATH}: {{'ok': true}} with the API's defaults"
            " (JWT, IsAuthenticated, throttles)"
        )
        total = sum(seeded.parcels.values())
        out(f"  parcel list  GET {LIST_PATH}: the shipper's JWT, first page (20 of {total})")
        out(
            f"  batch pings  POST /api/v1/courier/deliveries/<id>/pings/: {options['batch']}"
            f" pings each, {len(seeded.deliveries)} couriers"
        )
        out(
            f"  server env   API_THROTTLE_USER={THROTTLE_RATE} (the throttle runs, refuses nothing)"
        )

        out("\nround  bare req/s  parcel list req/s  batch pings req/s  list / bare")
        ratios = []
        for n, phases in enumerate(rounds, 1):
            rates = {p["target"]: _rate(p) for p in phases}
            ratio = rates["parcels"] / rates["bare"] if rates["bare"] else 0.0
            ratios.append(ratio)
            out(
                f"{n:<5}  {rates['bare']:>10.0f}  {rates['parcels']:>17.0f}"
                f"  {rates['pings']:>17.0f}  {ratio:>11.2f}"
            )

        out("\nendpoint     requests  req/s (median)    p50 ms    p99 ms  errors  client CPU")
        errors_total = 0
        for name in ORDER:
            mine = [p for phases in rounds for p in phases if p["target"] == name]
            latencies = [ms for p in mine for ms in p["latencies_ms"]]
            errors: dict[str, int] = {}
            for p in [*mine, *(w for w in result["warmup"] if w["target"] == name)]:
                for kind, count in p["errors"].items():
                    errors[kind] = errors.get(kind, 0) + count
            errors_total += sum(errors.values())
            cpu = max(p["client_cpu_s"] / p["seconds"] for p in mine)
            shown = sum(errors.values()) if not errors else f"{sum(errors.values())} {errors}"
            out(
                f"{LABELS[name]:<11}  {sum(p['requests'] for p in mine):>8}"
                f"  {float(np.median([_rate(p) for p in mine])):>14.0f}"
                f"  {_pct(latencies, 50):>8.1f}  {_pct(latencies, 99):>8.1f}  {shown!s:>6}"
                f"  {cpu:>9.0%}"
            )
        pings = [p for phases in rounds for p in phases if p["target"] == "pings"]
        warm = [w for w in result["warmup"] if w["target"] == "pings"]
        accepted = sum(p["accepted_pings"] for p in [*pings, *warm])
        refused: dict[str, int] = {}
        for p in [*pings, *warm]:
            for reason, count in p["rejected_pings"].items():
                refused[reason] = refused.get(reason, 0) + count
        checks = [c for phases in rounds for p in phases for c in p["checks"]]
        out(
            f"pings stored: {accepted}, refused: {sum(refused.values())} {refused or ''}"
            "; errors count the warm-up too; client CPU: the load generator's busiest phase,"
            " of one core"
        )
        if checks:
            out(f"parcel list answers not as seeded: {checks}")

        median = float(np.median(ratios))
        met = median >= TARGET_RATIO and errors_total == 0 and not refused and not checks
        out(
            f"\nparcel list / bare view: median {median:.2f} ({min(ratios):.2f}-{max(ratios):.2f}"
            f" over {len(ratios)} rounds), errors {errors_total};"
            f" target >= {TARGET_RATIO:.2f} and 0 errors: {'met' if met else 'NOT met'}"
        )
        if options["strict"] and not met:
            raise CommandError("target NOT met")
