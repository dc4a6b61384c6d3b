"""`delivery.courier_position` webhooks: where a merchant parcel's courier is, at most once every
HOOKS_POSITION_SECONDS per delivery, and only when the position moved since the last one.

Beat runs `publish_courier_positions` every few seconds; the ping paths (REST, WebSocket,
sandbox) stay as they are, with no webhook cost per ping. A row being written by a ping is
skipped (SKIP LOCKED) and published on the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from marketplace.hooks import services as hooks
from marketplace.hooks.models import EventType
from marketplace.tracking.models import TRACKING_STATUSES, LivePosition


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def position_data(live: LivePosition) -> dict[str, Any]:
    """What a merchant's webhook says of the courier's position."""
    assert live.point is not None
    return {
        "lat": round(live.point.y, 6),
        "lon": round(live.point.x, 6),
        "accuracy_m": live.accuracy_m,
        "speed_mps": live.speed_mps,
        "heading_deg": live.heading_deg,
        "recorded_at": _iso(live.device_time),
        "remaining_m": live.remaining_m,
        "eta": _iso(live.eta),
    }


@transaction.atomic
def courier_positions_publish(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Record a position event for each merchant delivery on its way whose courier moved since
    its last event, and whose last event is at least HOOKS_POSITION_SECONDS old."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HOOKS_POSITION_SECONDS)
    due = list(
        LivePosition.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("delivery__parcel")
        .filter(
            delivery__parcel__merchant__isnull=False,
            delivery__status__in=TRACKING_STATUSES,
            point__isnull=False,
        )
        .filter(
            Q(published_at__isnull=True)
            | Q(published_at__lte=cutoff, updated_at__gt=F("published_at"))
        )
        .order_by("delivery_id")[:limit]
    )
    for live in due:
        delivery = live.delivery
        hooks.event_record(
            parcel=delivery.parcel,
            type=EventType.COURIER_POSITION,
            data={
                "delivery": {"id": delivery.pk, "status": delivery.status},
                "position": position_data(live),
            },
        )
    LivePosition.objects.filter(pk__in=[live.pk for live in due]).update(published_at=now)
    return len(due)
