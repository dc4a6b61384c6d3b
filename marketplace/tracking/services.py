"""Recording the courier's location pings, the live position and ETA, the arrival notice, and the
recipient's public link.

A ping is a JSON object from the courier's device::

    {"lat": 52.52, "lon": 13.40, "accuracy_m": 12, "at": "2026-05-04T10:15:02+02:00",
     "speed_mps": 4.1, "heading_deg": 270}

(`speed_mps` and `heading_deg` are optional; `at` is the device's time, ISO 8601 with an offset.)
Each ping is checked on its own; a refused one is reported by its index with one of these reasons:

    not_an_object        the item is not a JSON object
    invalid_coordinates  lat/lon missing, not numbers, or outside -90..90 / -180..180
    invalid_accuracy     accuracy_m missing, not a number, or negative
    inaccurate           accuracy_m above TRACKING_MAX_ACCURACY_M
    invalid_time         at missing, not ISO 8601, or without a UTC offset
    in_future            at later than now + TRACKING_MAX_CLOCK_SKEW_S
    too_old              at earlier than TRACKING_MAX_PING_AGE_HOURS ago
    before_pickup        at before the pickup (no location is kept from before it)
    invalid_speed        speed_mps not a number, negative, or above TRACKING_MAX_SPEED_KMH
    invalid_heading      heading_deg not a number in 0..360
    duplicate            a ping with the same device time is stored already (or earlier in
                         the batch): a batch sent twice is stored once
    too_fast             getting here from the previous accepted ping (by device time) would take
                         more than TRACKING_MAX_SPEED_KMH, even allowing for both accuracies

Only the delivery's courier records pings, and only while the parcel is picked up or in transit:
otherwise nothing is stored (409 `not_tracking`). Pings may come late and out of order (a batch
after losing signal); the live position moves only to a newer device time.

Lock order: the delivery row (FOR NO KEY UPDATE, after the parcel and trip when a caller holds
those, as in deliveries.services), then its live position.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core import metrics
from marketplace.core.datetimes import datetime_problem
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    NotFoundError,
)
from marketplace.core.geo import WGS84, haversine_lonlat_m
from marketplace.core.languages import in_language_of
from marketplace.core.layers import group_send_many
from marketplace.core.timezones import local_clock
from marketplace.core.transactions import run_on_commit_or_log
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.notifications.services import notify
from marketplace.tracking import selectors
from marketplace.tracking.models import TRACKING_STATUSES, LivePosition, LocationPing, TrackingLink
from marketplace.tracking.recipients import recipient_tell
from marketplace.trips.models import Trip

PURGE_CHUNK = 10_000


def track_group(delivery_id: int) -> str:
    """The delivery's shipper (and staff watching) receive exact positions here."""
    return f"track-{delivery_id}"


def public_group(delivery_id: int) -> str:
    """The recipient's public link receives status, ETA and an area here."""
    return f"track-public-{delivery_id}"


def broadcast_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send to a channel-layer group once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    run_on_commit_or_log(send, "tracking broadcast")


def broadcast_many_on_commit(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Send (group, message) pairs once the current transaction commits, all at once (one Redis
    pipeline: core.layers.group_send_many)."""
    if not messages:
        return

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(group_send_many)(layer, messages)

    run_on_commit_or_log(send, "tracking broadcast")


# --- validating pings ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ping:
    index: int
    lon: float
    lat: float
    accuracy_m: float
    device_time: datetime
    speed_mps: float | None
    heading_deg: float | None


@dataclass(frozen=True)
class _Fix:
    """A position already accepted, as the speed check needs it."""

    device_time: datetime
    lon: float
    lat: float
    accuracy_m: float


@dataclass
class PingResult:
    accepted: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    moved: _Moved | None = field(default=None, repr=False)

    @property
    def position(self) -> LivePosition | None:
        """The live position, when this moved it (built on demand: the live path never asks)."""
        return self.moved.live_position() if self.moved is not None else None


@dataclass(frozen=True, slots=True)
class _Moved:
    """Where a batch moved its delivery's live position, as written by the upsert."""

    delivery_id: int
    ping: _Ping
    remaining_m: int
    eta: datetime
    arriving_notified_at: datetime | None
    updated_at: datetime

    def live_position(self) -> LivePosition:
        ping = self.ping
        return LivePosition(
            delivery_id=self.delivery_id,
            point=Point(ping.lon, ping.lat, srid=WGS84),
            accuracy_m=ping.accuracy_m,
            speed_mps=ping.speed_mps,
            heading_deg=ping.heading_deg,
            device_time=ping.device_time,
            remaining_m=self.remaining_m,
            eta=self.eta,
            arriving_notified_at=self.arriving_notified_at,
            updated_at=self.updated_at,
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:  # an integer beyond any float (10**400) is refused, not an OverflowError
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _parse(index: int, raw: Any, *, now: datetime, not_before: datetime) -> _Ping | str:
    """A checked ping, or the reason it is refused."""
    if not isinstance(raw, dict):
        return "not_an_object"
    lat, lon = _number(raw.get("lat")), _number(raw.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return "invalid_coordinates"
    accuracy = _number(raw.get("accuracy_m"))
    if accuracy is None or accuracy < 0:
        return "invalid_accuracy"
    if accuracy > settings.TRACKING_MAX_ACCURACY_M:
        return "inaccurate"
    at = raw.get("at")
    try:
        device_time = parse_datetime(at) if isinstance(at, str) else None
    except ValueError:
        device_time = None
    if device_time is None or timezone.is_naive(device_time) or datetime_problem(device_time):
        return "invalid_time"  # datetime_problem: an offset PostgreSQL cannot store
    skew = timedelta(seconds=settings.TRACKING_MAX_CLOCK_SKEW_S)
    if device_time > now + skew:
        return "in_future"
    if device_time < now - timedelta(hours=settings.TRACKING_MAX_PING_AGE_HOURS):
        return "too_old"
    if device_time < not_before - skew:
        return "before_pickup"
    speed_ok, speed = _optional(raw, "speed_mps")
    if not speed_ok or (
        speed is not None and not 0 <= speed <= settings.TRACKING_MAX_SPEED_KMH / 3.6
    ):
        return "invalid_speed"
    heading_ok, heading = _optional(raw, "heading_deg")
    if not heading_ok or (heading is not None and not 0 <= heading <= 360):
        return "invalid_heading"
    return _Ping(
        index=index,
        lon=lon,
        lat=lat,
        accuracy_m=accuracy,
        device_time=device_time,
        speed_mps=speed,
        heading_deg=None if heading is None else heading % 360,
    )


def _optional(raw: dict[str, Any], key: str) -> tuple[bool, float | None]:
    """(valid, value): absent or null is valid and None; anything but a number is invalid."""
    value = raw.get(key)
    if value is None:
        return True, None
    number = _number(value)
    return number is not None, number


def _implied_kmh(a: _Fix, b: _Fix) -> float:
    """The slowest speed that explains moving from a to b, given both fixes' accuracy."""
    seconds = abs((b.device_time - a.device_time).total_seconds())
    metres = haversine_lonlat_m(a.lon, a.lat, b.lon, b.lat)
    metres = max(0.0, metres - a.accuracy_m - b.accuracy_m)
    if metres == 0:
        return 0.0
    return math.inf if seconds == 0 else metres / seconds * 3.6


def _plausible(
    candidates: list[_Ping], stored: list[_Fix], rejected: list[dict[str, Any]]
) -> list[_Ping]:
    """Drop duplicates and impossible jumps, checking each ping against the previous accepted
    one by device time (stored or from this batch). `stored` holds the delivery's stored pings
    from the last one before the batch's first device time up to its last (see _stored_fixes)."""
    if not candidates:
        return []
    candidates = sorted(candidates, key=lambda p: (p.device_time, p.index))
    timeline = sorted(stored, key=lambda f: f.device_time)
    times = [f.device_time for f in timeline]
    accepted: list[_Ping] = []
    for ping in candidates:
        at = bisect.bisect_left(times, ping.device_time)
        if at < len(times) and times[at] == ping.device_time:
            rejected.append({"index": ping.index, "reason": "duplicate"})
            continue
        fix = _Fix(ping.device_time, ping.lon, ping.lat, ping.accuracy_m)
        if at > 0 and _implied_kmh(timeline[at - 1], fix) > settings.TRACKING_MAX_SPEED_KMH:
            rejected.append({"index": ping.index, "reason": "too_fast"})
            continue
        timeline.insert(at, fix)
        times.insert(at, ping.device_time)
        accepted.append(ping)
    return accepted


# One query for every delivery of a batch: per delivery, its stored pings with device times in
# [first, last] of the batch, and the last one before `first` (the speed check's predecessor).
STORED_FIXES_SQL = """
SELECT v.delivery_id, p.device_time, ST_X(p.point), ST_Y(p.point), p.accuracy_m
FROM unnest(%(ids)s::bigint[], %(firsts)s::timestamptz[], %(lasts)s::timestamptz[])
    AS v(delivery_id, first_at, last_at)
CROSS JOIN LATERAL (
    (SELECT device_time, point, accuracy_m FROM {table}
     WHERE delivery_id = v.delivery_id AND device_time < v.first_at
     ORDER BY device_time DESC LIMIT 1)
    UNION ALL
    (SELECT device_time, point, accuracy_m FROM {table}
     WHERE delivery_id = v.delivery_id AND device_time BETWEEN v.first_at AND v.last_at)
) p
"""

# Move the live positions (creating the missing ones) in one statement; the arrival flag stays.
LIVE_UPSERT_SQL = """
INSERT INTO {table} (delivery_id, point, accuracy_m, speed_mps, heading_deg, device_time,
                     remaining_m, eta, updated_at)
SELECT v.delivery_id, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326), v.accuracy_m, v.speed_mps,
       v.heading_deg, v.device_time, v.remaining_m, v.eta, %(now)s
FROM unnest(%(ids)s::bigint[], %(lons)s::float8[], %(lats)s::float8[], %(accuracies)s::float8[],
            %(speeds)s::float8[], %(headings)s::float8[], %(times)s::timestamptz[],
            %(remaining)s::integer[], %(etas)s::timestamptz[])
    AS v(delivery_id, lon, lat, accuracy_m, speed_mps, heading_deg, device_time, remaining_m, eta)
ON CONFLICT (delivery_id) DO UPDATE SET
    point = EXCLUDED.point, accuracy_m = EXCLUDED.accuracy_m, speed_mps = EXCLUDED.speed_mps,
    heading_deg = EXCLUDED.heading_deg, device_time = EXCLUDED.device_time,
    remaining_m = EXCLUDED.remaining_m, eta = EXCLUDED.eta, updated_at = EXCLUDED.updated_at
"""


# Lock the batch's deliveries in id order (FOR NO KEY UPDATE OF the delivery only) and read what
# recording needs, with the live position's time and arrival flag: one query and no model
# instances (loading the trip and parcel rows parsed their route and point geometries per batch).
LOCK_SQL = """
SELECT d.id, d.status, d.courier_id, d.picked_up_at, d.dropoff_position_m,
       d.predicted_dropoff_at, t.speed_kmh, lp.device_time, lp.arriving_notified_at
FROM {delivery} d
JOIN {trip} t ON t.id = d.trip_id
LEFT JOIN {live} lp ON lp.delivery_id = d.id
WHERE d.id = ANY(%(ids)s::bigint[])
ORDER BY d.id
FOR NO KEY UPDATE OF d
"""

# Store the accepted pings in one statement.
PINGS_INSERT_SQL = """
INSERT INTO {table} (delivery_id, point, accuracy_m, speed_mps, heading_deg, device_time,
                     received_at)
SELECT v.delivery_id, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326), v.accuracy_m, v.speed_mps,
       v.heading_deg, v.device_time, %(now)s
FROM unnest(%(ids)s::bigint[], %(lons)s::float8[], %(lats)s::float8[], %(accuracies)s::float8[],
            %(speeds)s::float8[], %(headings)s::float8[], %(times)s::timestamptz[])
    AS v(delivery_id, lon, lat, accuracy_m, speed_mps, heading_deg, device_time)
"""


@dataclass(slots=True)
class _Tracked:
    """A delivery locked for recording pings: the columns that recording reads."""

    pk: int
    status: str
    courier_id: int
    picked_up_at: datetime | None
    dropoff_position_m: int
    predicted_dropoff_at: datetime
    speed_kmh: int
    live_time: datetime | None  # the live position's device time (None: no position yet)
    arriving_notified_at: datetime | None

    def get_status_display(self) -> str:
        return str(DeliveryStatus(self.status).label)


def _lock_deliveries(ids: list[int]) -> dict[int, _Tracked]:
    with connection.cursor() as cursor:
        cursor.execute(
            LOCK_SQL.format(
                delivery=Delivery._meta.db_table,
                trip=Trip._meta.db_table,
                live=LivePosition._meta.db_table,
            ),
            {"ids": ids},
        )
        return {row[0]: _Tracked(*row) for row in cursor.fetchall()}


def _insert_pings(rows: list[tuple[int, _Ping]], *, now: datetime) -> None:
    if not rows:
        return
    pings = [ping for _, ping in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            PINGS_INSERT_SQL.format(table=LocationPing._meta.db_table),
            {
                "now": now,
                "ids": [delivery_id for delivery_id, _ in rows],
                "lons": [p.lon for p in pings],
                "lats": [p.lat for p in pings],
                "accuracies": [p.accuracy_m for p in pings],
                "speeds": [p.speed_mps for p in pings],
                "headings": [p.heading_deg for p in pings],
                "times": [p.device_time for p in pings],
            },
        )


def _stored_fixes(spans: dict[int, tuple[datetime, datetime]]) -> dict[int, list[_Fix]]:
    fixes: dict[int, list[_Fix]] = {delivery_id: [] for delivery_id in spans}
    if not spans:
        return fixes
    ids = list(spans)
    with connection.cursor() as cursor:
        cursor.execute(
            STORED_FIXES_SQL.format(table=LocationPing._meta.db_table),
            {
                "ids": ids,
                "firsts": [spans[i][0] for i in ids],
                "lasts": [spans[i][1] for i in ids],
            },
        )
        for delivery_id, device_time, lon, lat, accuracy_m in cursor.fetchall():
            fixes[delivery_id].append(_Fix(device_time, lon, lat, accuracy_m))
    return fixes


# --- recording -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PingBatch:
    """One courier's pings for one delivery, as pings_record_many takes them."""

    delivery_id: int
    courier_id: int
    pings: list[Any]


def _check_size(pings: Any) -> None:
    if not isinstance(pings, list) or not pings:
        raise ApplicationError(gettext("Send at least one ping."), code="no_pings")
    if len(pings) > settings.TRACKING_MAX_BATCH:
        raise ApplicationError(
            gettext("Send at most %(TRACKING_MAX_BATCH)s pings at a time.")
            % {"TRACKING_MAX_BATCH": settings.TRACKING_MAX_BATCH},
            code="too_many_pings",
        )


def _check_tracking(delivery: _Tracked, courier_id: int) -> None:
    if delivery.courier_id != courier_id:
        raise NotAllowedError(
            gettext("Only the assigned courier shares their position."), code="not_assigned_courier"
        )
    if delivery.status not in TRACKING_STATUSES:
        raise ConflictError(
            gettext(
                "The position is shared only between pickup and delivery; this "
                "delivery is %(lower)s."
            )
            % {"lower": delivery.get_status_display().lower()},
            code="not_tracking",
        )


@transaction.atomic
def pings_record(*, delivery: Delivery, courier: User, pings: list[Any]) -> PingResult:
    """Store the courier's valid pings, move the live position and ETA, tell the shipper once
    when the courier is about to arrive, and broadcast the new position after commit."""
    _check_size(pings)
    outcome = _record([PingBatch(delivery.pk, courier.pk, pings)])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@transaction.atomic
def pings_record_many(batches: list[PingBatch]) -> list[PingResult | ApplicationError]:
    """pings_record for several deliveries (one batch each) in one transaction, with a fixed
    number of queries whatever their count: the live WebSocket path groups the pings that arrive
    together. Each batch gets its result, or the error that pings_record would raise for it (and
    nothing of it is stored); the others are recorded all the same."""
    if len({batch.delivery_id for batch in batches}) != len(batches):
        raise ValueError("One batch per delivery: merge the pings of a delivery first.")
    outcomes: list[PingResult | ApplicationError | None] = [None] * len(batches)
    sized: list[int] = []
    for position, batch in enumerate(batches):
        try:
            _check_size(batch.pings)
        except ApplicationError as exc:
            outcomes[position] = exc
        else:
            sized.append(position)
    for position, outcome in zip(sized, _record([batches[i] for i in sized]), strict=True):
        outcomes[position] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _record(batches: list[PingBatch]) -> list[PingResult | ApplicationError]:
    """The work of pings_record_many, inside its transaction; batches of distinct deliveries."""
    if not batches:
        return []
    # Lock order: deliveries by id (FOR NO KEY UPDATE), so concurrent batches never deadlock;
    # the live position comes along (read under its delivery's lock, written by the upsert).
    locked = _lock_deliveries([batch.delivery_id for batch in batches])
    now = timezone.now()
    outcomes: list[PingResult | ApplicationError] = []
    work: list[tuple[_Tracked, list[_Ping], PingResult]] = []
    for batch in batches:
        delivery = locked.get(batch.delivery_id)
        if delivery is None:
            outcomes.append(NotFoundError(gettext("No such delivery.")))
            continue
        try:
            _check_tracking(delivery, batch.courier_id)
        except ApplicationError as exc:
            outcomes.append(exc)
            continue
        not_before = delivery.picked_up_at or now
        rejected: list[dict[str, Any]] = []
        candidates: list[_Ping] = []
        for index, raw in enumerate(batch.pings):
            parsed = _parse(index, raw, now=now, not_before=not_before)
            if isinstance(parsed, str):
                rejected.append({"index": index, "reason": parsed})
            else:
                candidates.append(parsed)
        result = PingResult(accepted=0, rejected=rejected)
        outcomes.append(result)
        work.append((delivery, candidates, result))

    stored = _stored_fixes(
        {
            delivery.pk: (
                min(p.device_time for p in candidates),
                max(p.device_time for p in candidates),
            )
            for delivery, candidates, _ in work
            if candidates
        }
    )
    new_pings: list[tuple[int, _Ping]] = []
    newest: dict[int, tuple[_Tracked, _Ping]] = {}
    for delivery, candidates, result in work:
        accepted = _plausible(candidates, stored.get(delivery.pk, []), result.rejected)
        result.accepted = len(accepted)
        result.rejected.sort(key=lambda r: r["index"])
        new_pings += [(delivery.pk, p) for p in accepted]
        if accepted:
            ping = max(accepted, key=lambda p: p.device_time)
            if delivery.live_time is None or ping.device_time > delivery.live_time:
                newest[delivery.pk] = (delivery, ping)  # else a late batch: history, not news
    _insert_pings(new_pings, now=now)
    metrics.count_on_commit(metrics.PINGS, len(new_pings), result="stored")
    rejected_count = sum(len(result.rejected) for _, _, result in work)
    metrics.count_on_commit(metrics.PINGS, rejected_count, result="rejected")
    positions = _move_live_positions(list(newest.values()), now=now)
    for delivery, _, result in work:
        result.moved = positions.get(delivery.pk)
    return outcomes


def _move_live_positions(
    moves: list[tuple[_Tracked, _Ping]], *, now: datetime
) -> dict[int, _Moved]:
    """Move each delivery's live position to its newest ping (already known to be newer), with
    the remaining distance and ETA; announce arrivals; broadcast the positions after commit."""
    if not moves:
        return {}
    located = selectors.route_locate_many(
        points={delivery.pk: (ping.lon, ping.lat) for delivery, ping in moves}
    )
    positions: dict[int, _Moved] = {}
    messages: list[tuple[str, dict[str, Any]]] = []
    for delivery, ping in moves:
        remaining = selectors.remaining_m(
            dropoff_position_m=delivery.dropoff_position_m, located=located[delivery.pk]
        )
        eta = (ping.device_time + timedelta(seconds=remaining * 3.6 / delivery.speed_kmh)).replace(
            microsecond=0
        )
        positions[delivery.pk] = _Moved(
            delivery.pk, ping, remaining, eta, delivery.arriving_notified_at, now
        )
        # What selectors.position_frame and public_frame make of the new position, from the
        # values at hand rather than model instances and GEOS points.
        position_frame = selectors.position_frame_of(
            lon=ping.lon,
            lat=ping.lat,
            accuracy_m=ping.accuracy_m,
            device_time=ping.device_time,
            eta=eta,
            remaining_m=remaining,
        )
        public_frame = selectors.public_frame_of(
            status=delivery.status, eta=eta, eta_live=True, lonlat=(ping.lon, ping.lat)
        )
        messages.append(
            (track_group(delivery.pk), {"type": "track.position", "frame": position_frame})
        )
        messages.append(
            (public_group(delivery.pk), {"type": "track.status", "frame": public_frame})
        )
    moved = list(positions.values())
    with connection.cursor() as cursor:
        cursor.execute(
            LIVE_UPSERT_SQL.format(table=LivePosition._meta.db_table),
            {
                "now": now,
                "ids": [m.delivery_id for m in moved],
                "lons": [m.ping.lon for m in moved],
                "lats": [m.ping.lat for m in moved],
                "accuracies": [m.ping.accuracy_m for m in moved],
                "speeds": [m.ping.speed_mps for m in moved],
                "headings": [m.ping.heading_deg for m in moved],
                "times": [m.ping.device_time for m in moved],
                "remaining": [m.remaining_m for m in moved],
                "etas": [m.eta for m in moved],
            },
        )
    for move in moved:
        distance = located[move.delivery_id].to_dropoff_m
        arriving = distance <= settings.TRACKING_ARRIVING_M and move.arriving_notified_at is None
        if arriving and _announce_arrival(move, distance_m=distance, now=now):
            positions[move.delivery_id] = replace(move, arriving_notified_at=now)
    broadcast_many_on_commit(messages)
    return positions


def _announce_arrival(move: _Moved, *, distance_m: float, now: datetime) -> bool:
    """Tell the shipper, once per delivery: the flag is claimed by a conditional update.
    Whether this call told them."""
    claimed = LivePosition.objects.filter(
        pk=move.delivery_id, arriving_notified_at__isnull=True
    ).update(arriving_notified_at=now)
    if not claimed:
        return False
    delivery = Delivery.objects.select_related("parcel__shipper").get(pk=move.delivery_id)
    parcel = delivery.parcel
    eta = local_clock(move.eta, parcel.shipper)
    with in_language_of(parcel.shipper):
        title = gettext("Your courier is arriving with parcel #%(parcel)s") % {"parcel": parcel.pk}
        body = gettext(
            "The courier is about %(metres)s m from the drop-off and should be there around "
            "%(eta)s. Please make sure someone can receive it."
        ) % {"metres": f"{round(distance_m, -1):.0f}", "eta": eta}
    notify(
        user=parcel.shipper,
        kind="courier_arriving",
        title=title,
        body=body,
        data={
            "parcel_id": parcel.pk,
            "delivery_id": delivery.pk,
            "eta": move.eta.isoformat(),
        },
    )
    recipient_tell(delivery=delivery, event="arriving", eta=move.eta)
    return True


def tracking_status_broadcast_on_commit(*, delivery: Delivery) -> None:
    """Tell the tracking pages that the delivery's status changed (a delivery step calls this):
    when tracking stops, the courier's marker goes away."""
    position = LivePosition.objects.filter(delivery=delivery).first()
    broadcast_on_commit(
        track_group(delivery.pk),
        {"type": "track.status", "frame": selectors.status_frame(delivery=delivery)},
    )
    broadcast_on_commit(
        public_group(delivery.pk),
        {
            "type": "track.status",
            "frame": selectors.public_frame(delivery=delivery, position=position),
        },
    )


# --- the public link and retention ------------------------------------------------------------


def tracking_link_get_or_create(*, delivery: Delivery) -> TrackingLink:
    link, _ = TrackingLink.objects.get_or_create(delivery=delivery)
    return link


def pings_purge(*, now: datetime | None = None) -> int:
    """Delete pings received more than TRACKING_RETENTION_DAYS ago, in chunks; also forget the
    last position of deliveries no longer tracked after that long. Returns the pings deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACKING_RETENTION_DAYS)
    old = LocationPing.objects.filter(received_at__lt=cutoff)
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:PURGE_CHUNK]):
        deleted += LocationPing.objects.filter(pk__in=ids).delete()[0]
    LivePosition.objects.filter(updated_at__lt=cutoff).exclude(
        delivery__status__in=TRACKING_STATUSES
    ).delete()
    return deleted
