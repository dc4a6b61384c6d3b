"""Run the retention purge now (the task `purge_personal_data` runs it hourly).

python manage.py purge_personal_data --dry-run    # only count what would go
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from marketplace.lifecycle.retention import retention_purge


class Command(BaseCommand):
    help = (
        "Delete positions, chat photos, proof photos and signatures of finished deliveries past "
        "their retention (RETENTION_*_DAYS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = retention_purge(dry_run=options["dry_run"])
        verb = "would delete" if options["dry_run"] else "deleted"
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {verb} {count}")
