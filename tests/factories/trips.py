from datetime import timedelta
from typing import Any

from django.utils import timezone

from marketplace.lifecycle.posting import trip_create
from marketplace.trips.models import Trip
from tests.factories.accounts import CourierFactory
from tests.factories.geo import commute_route


def make_trip(*, courier: Any = None, **overrides: Any) -> Trip:
    now = timezone.now()
    fields: dict[str, Any] = {
        "route": commute_route(),
        "route_source": "geojson",
        "departure_earliest": now + timedelta(hours=1),
        "departure_latest": now + timedelta(hours=2),
    }
    fields.update(overrides)
    return trip_create(courier=courier or CourierFactory(), **fields)
