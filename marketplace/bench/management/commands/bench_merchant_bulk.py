"""How long 500 merchant deliveries take to create: one POST each, one bulk JSON request, one
CSV upload to the bulk endpoint, side by side in one run (the same merchant API, in process
through DRF's test client; eager Celery, PAYMENTS_REQUIRED off: invoice billing).

    make bench-bulk   (manage.py bench_merchant_bulk on the scratch database)

Refuses to run unless the database name contains "bench": it adds a merchant and parcels.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.accounts.models import User
from marketplace.bench.quiet import QuietCommand
from marketplace.merchants import services as merchants

URL = "/api/v1/merchant/deliveries/"
HEADER = (
    "external_reference,description,size_class,weight_grams,declared_value,pickup_lng,pickup_lat,"
    "pickup_address,pickup_contact_name,pickup_contact_phone,pickup_window_start,"
    "pickup_window_end,dropoff_lng,dropoff_lat,dropoff_address,dropoff_contact_name,"
    "dropoff_contact_phone,delivery_window_start,delivery_window_end"
)


def row(ref: str, i: int) -> dict[str, Any]:
    now = timezone.now()
    lon, lat = 13.30 + (i % 50) * 0.002, 52.50 + (i // 50) * 0.002
    return {
        "external_reference": ref,
        "description": f"Order {ref}",
        "size_class": "S",
        "weight_grams": 500 + i % 2000,
        "declared_value": 2000,
        "pickup_point": {"type": "Point", "coordinates": [13.4132, 52.5219]},
        "pickup_address": "Store, Alexanderplatz 1",
        "pickup_contact_name": "Desk",
        "pickup_contact_phone": "+49 30 1",
        "pickup_window_start": (now + timedelta(hours=1)).isoformat(),
        "pickup_window_end": (now + timedelta(hours=3)).isoformat(),
        "dropoff_point": {"type": "Point", "coordinates": [lon, lat]},
        "dropoff_address": f"Street {i}",
        "dropoff_contact_name": "Customer",
        "dropoff_contact_phone": "+49 30 2",
        "delivery_window_start": (now + timedelta(hours=2)).isoformat(),
        "delivery_window_end": (now + timedelta(hours=8)).isoformat(),
    }


def csv_line(data: dict[str, Any]) -> str:
    cells = [data[name] for name in HEADER.split(",")[:5]]
    cells += data["pickup_point"]["coordinates"]
    cells += [data[n] for n in HEADER.split(",")[7:12]]
    cells += data["dropoff_point"]["coordinates"]
    cells += [data[n] for n in HEADER.split(",")[14:]]
    out = io.StringIO()
    csv.writer(out).writerow(cells)  # quotes the addresses' commas
    return out.getvalue().rstrip("\r\n")


class Command(QuietCommand):
    help = "Time 500 merchant deliveries: single POSTs vs bulk JSON vs CSV (docs/merchants.md)."
    quiet_loggers = ("marketplace.request", "marketplace.task", "celery.app.trace")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        if "bench" not in connection.settings_dict["NAME"]:
            raise CommandError("Run it on a scratch database whose name contains 'bench'.")
        rows = options["rows"]
        stamp = int(time.time())
        owner = User.objects.create_user(
            email=f"bulk-{stamp}@bench.local", password=None, full_name="Bulk bench"
        )
        merchant = merchants.merchant_create(
            owner=owner, name=f"Bench {stamp}", contact_email=owner.email, billing_mode="invoice"
        )
        _, key = merchants.api_key_create(merchant=merchant, name="bench")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        figures = {}
        limits = {
            "MERCHANT_API_WRITE_RATE": "100000/min",
            "MERCHANT_BULK_MAX_ROWS": rows,
            "ALLOWED_HOSTS": ["testserver"],
        }
        with override_settings(CELERY_TASK_ALWAYS_EAGER=True, PAYMENTS_REQUIRED=False, **limits):
            figures["single POSTs"] = self._time(
                lambda: [
                    self._ok(client.post(URL, row(f"s{stamp}-{i}", i), format="json"), 201)
                    for i in range(rows)
                ]
            )
            batch = [row(f"j{stamp}-{i}", i) for i in range(rows)]
            figures["bulk JSON"] = self._time(
                lambda: self._ok(client.post(f"{URL}bulk/", batch, format="json"), 207, rows)
            )
            text = "\n".join([HEADER, *(csv_line(row(f"c{stamp}-{i}", i)) for i in range(rows))])
            upload = SimpleUploadedFile("bench.csv", text.encode(), content_type="text/csv")
            figures["bulk CSV"] = self._time(
                lambda: self._ok(
                    client.post(f"{URL}bulk/", {"file": upload}, format="multipart"), 207, rows
                )
            )
        base = figures["single POSTs"][0]
        self.stdout.write(
            f"{rows} deliveries per run (one merchant, invoice billing, eager Celery)"
        )
        self.stdout.write(
            f"{'how':<14}{'seconds':>9}{'rows/s':>9}{'vs single':>11}{'queries/row':>13}"
        )
        for name, (seconds, queries) in figures.items():
            self.stdout.write(
                f"{name:<14}{seconds:>9.2f}{rows / seconds:>9.1f}{base / seconds:>10.2f}x"
                f"{queries / rows:>13.1f}"
            )

    @staticmethod
    def _time(run: Any) -> tuple[float, int]:
        count = 0

        def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):
            started = time.perf_counter()
            run()
            return time.perf_counter() - started, count

    @staticmethod
    def _ok(response: Any, status: int, created: int | None = None) -> None:
        if response.status_code != status:
            raise CommandError(f"{response.status_code}: {response.content[:500]!r}")
        if created is not None and response.json()["created"] != created:
            bad = [r for r in response.json()["results"] if r["status"] != "created"][:3]
            raise CommandError(f"rows refused: {bad}")
