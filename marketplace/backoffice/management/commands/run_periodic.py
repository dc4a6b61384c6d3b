"""Run the periodic tasks of CELERY_BEAT_SCHEDULE in this process, each on its interval.

For development (`make run` starts it next to the web server), where there is no Celery worker
and no beat: offers still expire, transfers go out when due, old pings are purged. In production
run `celery -A config beat` and a worker instead (docs/production.md). Each task is idempotent,
so running one late or twice is harmless.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.celery import app

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run CELERY_BEAT_SCHEDULE's tasks in-process on their intervals (development)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="run every task once and stop")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        app.loader.import_default_modules()
        schedule: dict[str, tuple[Any, float]] = {}
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            if not isinstance(entry["schedule"], int | float):
                raise CommandError(f"{name}: only schedules in seconds are supported here.")
            if entry["task"] not in app.tasks:
                raise CommandError(f"{name}: no task named {entry['task']}.")
            schedule[name] = (app.tasks[entry["task"]], float(entry["schedule"]))
        due = dict.fromkeys(schedule, 0.0)
        self.stdout.write(f"Periodic tasks: {', '.join(sorted(schedule))}")
        while True:
            now = time.monotonic()
            for name, (task, every) in schedule.items():
                if now < due[name]:
                    continue
                due[name] = now + every
                try:
                    result = task.apply().get(propagate=True)
                except Exception:  # one failing task must not stop the others
                    log.exception("periodic task %s failed", name)
                else:
                    log.info("periodic task %s: %s", name, result)
            if once:
                return
            time.sleep(max(0.5, min(due.values()) - time.monotonic()))
