"""The guard of the benchmarks that seed data: a scratch database and a loopback Redis only."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import connection


def require_scratch(redis_url: str) -> None:
    name = connection.settings_dict["NAME"]
    if "bench" not in name and not name.startswith("test_"):
        raise CommandError(
            f'Refusing to seed "{name}": use a scratch database whose name contains "bench" '
            "(e.g. DATABASE_URL=postgis://postgres@127.0.0.1:5432/waypost_bench)."
        )
    if not redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        raise CommandError("Only a loopback Redis is allowed (redis://127.0.0.1:...).")
