"""Reads for tracking: who may follow a delivery, what each audience is shown, and where a point
lies along the trip's route (measured in PostGIS as the matching engine does it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from marketplace.accounts.models import User
from marketplace.core.geo import approximate_lonlat
from marketplace.deliveries.models import ACTIVE_STATUSES, Delivery, DeliveryStatus
from marketplace.tracking.models import TRACKING_STATUSES, LivePosition, TrackingLink

# The public page shows the courier's area on a grid of this size, never the exact point.
PUBLIC_GRID_M = 500.0


class Role:
    COURIER = "courier"
    SHIPPER = "shipper"
    STAFF = "staff"


def is_tracking(delivery: Delivery) -> bool:
    return delivery.status in TRACKING_STATUSES


def delivery_for_tracking(*, delivery_id: int) -> Delivery | None:
    return Delivery.objects.select_related("parcel", "trip").filter(pk=delivery_id).first()


def tracking_role(*, delivery: Delivery, user: Any) -> str | None:
    """How `user` takes part in following the delivery, or None (not theirs to follow)."""
    if not user or not user.is_authenticated:
        return None
    if delivery.courier_id == user.pk:
        return Role.COURIER
    if delivery.parcel.shipper_id == user.pk:
        return Role.SHIPPER
    if user.is_staff:
        return Role.STAFF
    return None


def deliveries_visible_to(*, user: User) -> QuerySet[Delivery]:
    """Deliveries whose position the user may ask for: their own as courier or shipper; all
    for staff."""
    deliveries = Delivery.objects.select_related("parcel", "trip")
    if user.is_staff:
        return deliveries
    return deliveries.filter(Q(courier=user) | Q(parcel__shipper=user))


def live_position_shown(*, delivery: Delivery) -> LivePosition | None:
    """The courier's latest position, only while the parcel is on its way."""
    if not is_tracking(delivery):
        return None
    return LivePosition.objects.filter(delivery=delivery, point__isnull=False).first()


def tracking_link_by_token(*, token: str) -> TrackingLink | None:
    return (
        TrackingLink.objects.select_related("delivery", "delivery__parcel")
        .filter(token=token)
        .first()
    )


def expected_at(
    *, delivery: Delivery, position: LivePosition | None
) -> tuple[datetime | None, bool]:
    """When the parcel should arrive, and whether that comes from the courier's live position
    (else it is the estimate made at assignment). None once the delivery is over."""
    if position is not None and position.eta is not None and is_tracking(delivery):
        return position.eta, True
    if delivery.status in ACTIVE_STATUSES and delivery.status != DeliveryStatus.FAILED:
        return delivery.predicted_dropoff_at, False
    return None, False


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- frames: what each audience receives (the pages render the same dicts) -----------------------


def position_frame(position: LivePosition) -> dict[str, Any]:
    """For the shipper, the courier and staff: the exact position."""
    assert position.point is not None
    return position_frame_of(
        lon=position.point.x,
        lat=position.point.y,
        accuracy_m=position.accuracy_m,
        device_time=position.device_time,
        eta=position.eta,
        remaining_m=position.remaining_m,
    )


def position_frame_of(
    *,
    lon: float,
    lat: float,
    accuracy_m: float | None,
    device_time: datetime | None,
    eta: datetime | None,
    remaining_m: int | None,
) -> dict[str, Any]:
    """position_frame from plain values (recording pings builds it without model instances)."""
    return {
        "type": "position",
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "accuracy_m": accuracy_m,
        "at": _iso(device_time),
        "eta": _iso(eta),
        "remaining_m": remaining_m,
    }


def status_frame(*, delivery: Delivery) -> dict[str, Any]:
    return status_frame_of(status=delivery.status)


def status_frame_of(*, status: str) -> dict[str, Any]:
    return {
        "type": "status",
        "status": status,
        "status_label": str(DeliveryStatus(status).label),
        "tracking": status in TRACKING_STATUSES,
    }


def public_frame(*, delivery: Delivery, position: LivePosition | None) -> dict[str, Any]:
    """For the recipient's public link: the status, the ETA and an area of about 500 m."""
    if not is_tracking(delivery):
        position = None
    eta, live = expected_at(delivery=delivery, position=position)
    point = position.point if position is not None else None
    return public_frame_of(
        status=delivery.status,
        eta=eta,
        eta_live=live,
        lonlat=(point.x, point.y) if point is not None else None,
    )


def public_frame_of(
    *, status: str, eta: datetime | None, eta_live: bool, lonlat: tuple[float, float] | None
) -> dict[str, Any]:
    """public_frame from plain values: `lonlat` is the exact position, shown as its area."""
    area = None
    if lonlat is not None:
        lon, lat = approximate_lonlat(*lonlat, grid_m=PUBLIC_GRID_M)
        area = {"lat": lat, "lon": lon, "radius_m": int(PUBLIC_GRID_M)}
    return {
        **status_frame_of(status=status),
        "eta": _iso(eta),
        "eta_live": eta_live,
        "area": area,
    }


# --- PostGIS: positions along the trip's route -----------------------------------------------

# As in matching.engine: locate the point on the Mercator line (conformal, so the same nearest
# point), then measure the metres up to it on the spheroid.
LOCATE_SQL = """
WITH c AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt)
SELECT
    ST_Length(ST_Transform(ST_LineSubstring(
        t.route_merc, 0, ST_LineLocatePoint(t.route_merc, ST_Transform(c.pt, 3857))
    ), 4326)::geography),
    ST_Distance(c.pt::geography, p.dropoff_point::geography)
FROM deliveries_delivery d
JOIN trips_trip t ON t.id = d.trip_id
JOIN parcels_parcel p ON p.id = d.parcel_id
CROSS JOIN c
WHERE d.id = %(delivery_id)s
"""

ROUTE_BETWEEN_STOPS_SQL = """
WITH f AS (
    SELECT t.route_merc,
        ST_LineLocatePoint(t.route_merc, p.pickup_merc) AS a,
        ST_LineLocatePoint(t.route_merc, p.dropoff_merc) AS b
    FROM deliveries_delivery d
    JOIN trips_trip t ON t.id = d.trip_id
    JOIN parcels_parcel p ON p.id = d.parcel_id
    WHERE d.id = %(delivery_id)s
)
SELECT ST_AsGeoJSON(
    ST_Transform(ST_LineSubstring(route_merc, LEAST(a, b), GREATEST(a, b)), 4326), 6
)
FROM f
"""


@dataclass(frozen=True)
class Located:
    position_m: float  # metres along the route to the point nearest the courier
    to_dropoff_m: float  # straight-line metres from the courier to the drop-off point


def route_locate(*, delivery: Delivery, lon: float, lat: float) -> Located:
    with connection.cursor() as cursor:
        cursor.execute(LOCATE_SQL, {"lon": lon, "lat": lat, "delivery_id": delivery.pk})
        position_m, to_dropoff_m = cursor.fetchone()
    return Located(float(position_m), float(to_dropoff_m))


# route_locate for several deliveries at once: (delivery id, lon, lat) per row.
LOCATE_MANY_SQL = """
WITH c AS (
    SELECT v.delivery_id, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326) AS pt
    FROM unnest(%(ids)s::bigint[], %(lons)s::float8[], %(lats)s::float8[])
        AS v(delivery_id, lon, lat)
)
SELECT
    d.id,
    ST_Length(ST_Transform(ST_LineSubstring(
        t.route_merc, 0, ST_LineLocatePoint(t.route_merc, ST_Transform(c.pt, 3857))
    ), 4326)::geography),
    ST_Distance(c.pt::geography, p.dropoff_point::geography)
FROM c
JOIN deliveries_delivery d ON d.id = c.delivery_id
JOIN trips_trip t ON t.id = d.trip_id
JOIN parcels_parcel p ON p.id = d.parcel_id
"""


def route_locate_many(*, points: dict[int, tuple[float, float]]) -> dict[int, Located]:
    """route_locate for several deliveries in one query: {delivery id: (lon, lat)}."""
    if not points:
        return {}
    ids = list(points)
    with connection.cursor() as cursor:
        cursor.execute(
            LOCATE_MANY_SQL,
            {
                "ids": ids,
                "lons": [points[i][0] for i in ids],
                "lats": [points[i][1] for i in ids],
            },
        )
        return {row[0]: Located(float(row[1]), float(row[2])) for row in cursor.fetchall()}


def remaining_m(*, dropoff_position_m: float, located: Located) -> int:
    """Metres left: along the route up to the drop-off's position (the delivery's
    dropoff_position_m), and never less than the straight line to the drop-off (the courier may
    be off the route, or past that position)."""
    along = dropoff_position_m - located.position_m
    return max(0, round(max(along, located.to_dropoff_m)))


def route_between_stops(*, delivery: Delivery) -> dict[str, Any] | None:
    """The part of the trip's route the parcel travels (pickup to drop-off) as GeoJSON. Not the
    whole route: where the courier's trip starts and ends is none of the shipper's business."""
    with connection.cursor() as cursor:
        cursor.execute(ROUTE_BETWEEN_STOPS_SQL, {"delivery_id": delivery.pk})
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    geometry: dict[str, Any] = json.loads(row[0])
    return geometry if geometry.get("type") == "LineString" else None
