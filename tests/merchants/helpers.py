from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG

DELIVERIES = "/api/v1/merchant/deliveries/"


def key_client(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}")
    return client


def delivery_body(**overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    body: dict[str, Any] = {
        "description": "Order 1001",
        "size_class": "S",
        "weight_grams": 1200,
        "declared_value": 3000,
        "pickup_point": {"type": "Point", "coordinates": list(ALEXANDERPLATZ)},
        "pickup_address": "Alexanderplatz 1, Berlin",
        "pickup_contact_name": "Store",
        "pickup_contact_phone": "+49 30 1",
        "pickup_window_start": (now + timedelta(hours=1)).isoformat(),
        "pickup_window_end": (now + timedelta(hours=3)).isoformat(),
        "dropoff_point": {"type": "Point", "coordinates": list(CHARLOTTENBURG)},
        "dropoff_address": "Kaiserdamm 2, Berlin",
        "dropoff_contact_name": "Customer",
        "dropoff_contact_phone": "+49 30 2",
        "delivery_window_start": (now + timedelta(hours=2)).isoformat(),
        "delivery_window_end": (now + timedelta(hours=6)).isoformat(),
    }
    body.update(overrides)
    return body
