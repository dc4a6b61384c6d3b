"""The matching engine: which trips a parcel fits, and which parcels fit a trip. All in SQL.

A parcel fits a trip when
- its pickup and its drop-off both lie within the trip's corridor (metres from the route);
- the pickup comes before the drop-off along the route;
- some departure inside the trip's departure window brings the courier past the pickup inside
  the pickup window and past the drop-off inside the delivery window (times = departure +
  position along the route / the trip's speed);
- the trip still has room: size class, weight and number of parcels after what it carries;
- the courier is verified and is not the shipper;
- the parcel is live (a merchant's test-mode parcels are never offered to real couriers).

Fits are ranked by detour in whole metres (2 x the distance from the route to the pickup and to
the drop-off: leave the route and come back, as `Fit.detour_m`), then by predicted drop-off time.

How it stays fast (numbers in docs/bench.md):
- Candidates. matching_tripsegment holds each matchable route cut in order into pieces of a few
  steps, each with a native `box` reach (its Mercator bounding box grown by the corridor at its
  latitude), the same box in the frame turned by 45 degrees (the two make an octagon around
  the piece) and its own time range (when the courier can be on that piece: earliest departure +
  time to its start, latest departure + time to its end). matching_tripcell lists each trip once
  per grid cell of about 1 km that one of its pieces' octagons overlaps, with the octagon and
  time range around all of its pieces there, as 4-byte integers rounded outward. Parcel ->
  trips reads the B-tree (cell, starts_minute, ends_minute, octagon bounds) INCLUDE (trip_id)
  twice, index-only, each a contiguous range: trips in the pickup's cell whose octagon holds the
  pickup and whose time range meets the pickup window, INTERSECT the same for the drop-off and
  the delivery window (the B-tree checks every condition on the index entry). No fit is lost:
  the piece holding the route point nearest the pickup is passed at the pickup time, which lies
  in the pickup window (likewise for the drop-off), the pickup lies in that piece's octagon and
  so in one of its cells, and the trip's row there covers the piece. Trip -> parcels probes the
  partial GiST indexes on open parcels (pickup_merc, match_range) and (dropoff_merc,
  match_range) with each piece's reach and time range, keeping parcels whose pickup window
  (delivery window) meets the piece's time range, and intersects the two.
- Exact checks, each step a MATERIALIZED CTE so every costly expression runs once per pair and
  only on the pairs the cheaper steps before it kept: capacity and rules, a planar prefilter in
  Mercator, the order along the route (nearest points located on the Mercator line: Mercator is
  conformal, so it is the same point), the offsets (metres on the spheroid from that point), the
  positions (metres on the spheroid along the route up to it: the M of that point on the trip's
  measured route in matching_triproute, whose M at each vertex is the geodesic length so far),
  then the departure interval.
- The two queries are prepared statements on each connection (`_fits`): no planning per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection
from django.utils import timezone

from marketplace.accounts.models import VerificationStatus
from marketplace.core import metrics
from marketplace.core.sizes import SizeClass
from marketplace.matching.segments import CELL_SPAN_MINUTES, cell_sql, minute_sql
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip, TripStatus

SIZE_ARRAY = "ARRAY[" + ", ".join(f"'{s}'" for s in SizeClass.values) + "]"
MATCHABLE_TRIP_STATUSES = (TripStatus.PLANNED, TripStatus.ACTIVE)
# Planar prefilter margin over the latitude scale: Mercator's scale changes by well under 1 %
# across a corridor below 80 degrees of latitude; geography decides exactly afterwards.
PREFILTER_MARGIN = 1.01


@dataclass(frozen=True)
class Fit:
    trip_id: int
    parcel_id: int
    courier_id: int
    pickup_position_m: int
    dropoff_position_m: int
    pickup_offset_m: float
    dropoff_offset_m: float
    predicted_pickup_at: datetime
    predicted_dropoff_at: datetime

    @property
    def detour_m(self) -> int:
        return round(2 * (self.pickup_offset_m + self.dropoff_offset_m))


def mercator_scale(latitude: float) -> float:
    """Mercator units per metre at a latitude."""
    return 1.0 / math.cos(math.radians(min(abs(latitude), 85.0)))


# Shared tail: measure each (trip, parcel) pair in `near`, keep the true fits, rank them. Every
# step is MATERIALIZED so each costly expression runs once per pair, and only on the pairs the
# cheaper checks before it kept (order in Mercator, then offsets, then positions on the spheroid).
# Positions (a measured route read per pair) are needed only to check the times of the pairs that
# can still make the first `limit`: the pairs are taken in order of detour, twice the limit at
# first, and all of them only when those do not settle the ranking.
_FIT_TAIL = """
located AS MATERIALIZED (
    SELECT n.*,
        ST_LineLocatePoint(n.route_merc, n.pu_merc) AS frac_p,
        ST_LineLocatePoint(n.route_merc, n.dr_merc) AS frac_d
    FROM near n
),
offset_ AS MATERIALIZED (
    -- Metres on the spheroid from the point nearest the pickup / drop-off (located on the
    -- Mercator line: Mercator is conformal, so it is the same point) to the pickup / drop-off.
    SELECT l.*,
        ST_Distance(ST_Transform(ST_LineInterpolatePoint(l.route_merc, l.frac_p), 4326)::geography,
                    l.pu_point::geography) AS off_p,
        ST_Distance(ST_Transform(ST_LineInterpolatePoint(l.route_merc, l.frac_d), 4326)::geography,
                    l.dr_point::geography) AS off_d
    FROM located l
    WHERE l.frac_p < l.frac_d
),
ranked AS MATERIALIZED (
    -- Detour in whole metres, as Fit.detour_m reports it: equal detours then go by drop-off
    -- time instead of by centimetres of floating-point noise.
    SELECT o.*, round(2 * (o.off_p + o.off_d)) AS detour_m
    FROM offset_ o
    WHERE o.off_p <= o.corridor_m AND o.off_d <= o.corridor_m
),
first AS MATERIALIZED (
    SELECT * FROM ranked ORDER BY detour_m LIMIT 2 * %(limit)s
),
first_fits AS MATERIALIZED (
    {fits_over_first}
    ORDER BY detour_m, dropoff_at, trip_id, parcel_id
    LIMIT %(limit)s
),
settled AS MATERIALIZED (
    -- The best fits among `first` are the best of all when `first` holds every pair, or when
    -- they fill the limit with detours smaller than any pair left out of `first` can have.
    SELECT (SELECT count(*) FROM first) < 2 * %(limit)s
        OR ((SELECT count(*) FROM first_fits) = %(limit)s
            AND (SELECT max(detour_m) FROM first_fits) < (SELECT max(detour_m) FROM first)) AS ok
)
SELECT trip_id, parcel_id, courier_id, pos_p, pos_d, off_p, off_d, pickup_at, dropoff_at
FROM (
    SELECT * FROM first_fits WHERE (SELECT ok FROM settled)
    UNION ALL
    (
        {fits_over_ranked}
        AND NOT (SELECT ok FROM settled)
        ORDER BY detour_m, dropoff_at, trip_id, parcel_id
        LIMIT %(limit)s
    )
) best
ORDER BY detour_m, dropoff_at, trip_id, parcel_id
"""


def _fits_over(source: str, final_filter: str) -> str:
    """The pairs of `source` (ranked rows) whose times fit: positions along the route (metres on
    the spheroid up to the point nearest the pickup / drop-off: the M of that point on the
    measured route, the same line, so the same fraction), the times they take at the trip's
    speed, and a departure inside the trip's departure window that passes the pickup inside the
    pickup window, and not before now (a courier already past the pickup cannot take it), and
    the drop-off inside the delivery window."""
    return f"""SELECT w.trip_id, w.parcel_id, w.courier_id,
           round(w.pos_p)::int AS pos_p, round(w.pos_d)::int AS pos_d, w.off_p, w.off_d,
           w.dep_lo + w.t_p AS pickup_at, w.dep_lo + w.t_d AS dropoff_at, w.detour_m
    FROM (
        SELECT t.*,
            GREATEST(
                t.departure_earliest, t.pw_start - t.t_p, t.dw_start - t.t_d,
                %(now)s::timestamptz - t.t_p
            ) AS dep_lo,
            LEAST(t.departure_latest, t.pw_end - t.t_p, t.dw_end - t.t_d) AS dep_hi
        FROM (
            SELECT m.*,
                make_interval(secs => m.pos_p * 3.6 / m.speed_kmh) AS t_p,
                make_interval(secs => m.pos_d * 3.6 / m.speed_kmh) AS t_d
            FROM (
                SELECT k.*,
                    ST_M(ST_LineInterpolatePoint(r.measured, k.frac_p)) AS pos_p,
                    ST_M(ST_LineInterpolatePoint(r.measured, k.frac_d)) AS pos_d
                FROM {source} k
                JOIN matching_triproute r ON r.trip_id = k.trip_id
            ) m
        ) t
    ) w
    WHERE w.dep_lo <= w.dep_hi{final_filter}"""


def _fit_tail(final_filter: str = "") -> str:
    """The shared tail, with `final_filter` (SQL starting with AND, on `w`) on the fits."""
    return _FIT_TAIL.replace("{fits_over_first}", _fits_over("first", final_filter)).replace(
        "{fits_over_ranked}", _fits_over("ranked", final_filter)
    )


# The courier is verified: checked on the fits only (one lookup each, not one per candidate).
_COURIER_VERIFIED = f"""
      AND EXISTS (SELECT 1 FROM accounts_courierprofile cp
                  WHERE cp.user_id = w.courier_id
                    AND cp.verification_status = '{VerificationStatus.VERIFIED.value}')"""


_TRIP_COLUMNS = """
    t.id AS trip_id, t.courier_id, t.route_merc, t.corridor_m,
    t.speed_kmh, t.departure_earliest, t.departure_latest"""
_PARCEL_COLUMNS = """
    p.id AS parcel_id, p.pickup_point AS pu_point, p.dropoff_point AS dr_point,
    p.pickup_merc AS pu_merc, p.dropoff_merc AS dr_merc,
    p.pickup_window_start AS pw_start, p.pickup_window_end AS pw_end,
    p.delivery_window_start AS dw_start, p.delivery_window_end AS dw_end"""


def _point_bounds_sql(point: str, prefix: str) -> str:
    """The point's Mercator x, y, u = x + y and v = x - y, each rounded down (lo) and up (hi),
    to compare with the cell rows' integer bounds (rounded outward): a bound holds the point
    exactly when it holds the rounded value."""
    x, y = f"ST_X({point})", f"ST_Y({point})"
    return ",\n        ".join(
        f"{rounding}({expr})::int AS {prefix}_{name}{suffix}"
        for name, expr in (("x", x), ("y", y), ("u", f"{x} + {y}"), ("v", f"{x} - {y}"))
        for rounding, suffix in (("floor", "lo"), ("ceil", "hi"))
    )


def _cell_probe_sql(prefix: str, window: str) -> str:
    """The trips listed in the point's cell whose time range there meets the window and whose
    octagon there holds the point: one contiguous index-only range scan (a row's starts_minute
    and ends_minute are at most CELL_SPAN_MINUTES apart, so a row that ends after the window's
    start starts at most that long before it)."""
    return f"""SELECT c.trip_id
    FROM p JOIN matching_tripcell c
      ON c.cell = p.{prefix}_cell
     AND c.starts_minute >= p.{window}_from - {CELL_SPAN_MINUTES}
     AND c.starts_minute <= p.{window}_to AND c.ends_minute >= p.{window}_from
     AND c.reach_xmin <= p.{prefix}_xlo AND c.reach_xmax >= p.{prefix}_xhi
     AND c.reach_ymin <= p.{prefix}_ylo AND c.reach_ymax >= p.{prefix}_yhi
     AND c.reach_umin <= p.{prefix}_ulo AND c.reach_umax >= p.{prefix}_uhi
     AND c.reach_vmin <= p.{prefix}_vlo AND c.reach_vmax >= p.{prefix}_vhi"""


TRIPS_FOR_PARCEL_SQL = f"""
WITH p AS MATERIALIZED (
    SELECT {_PARCEL_COLUMNS}, p.shipper_id, p.size_class, p.weight_grams,
        {_point_bounds_sql("p.pickup_merc", "pu")},
        {_point_bounds_sql("p.dropoff_merc", "dr")},
        {minute_sql("p.pickup_window_start", "ceil")} AS pw_from,
        {minute_sql("p.pickup_window_end", "floor")} AS pw_to,
        {minute_sql("p.delivery_window_start", "ceil")} AS dw_from,
        {minute_sql("p.delivery_window_end", "floor")} AS dw_to,
        {cell_sql("ST_X(p.pickup_point)", "ST_Y(p.pickup_point)")} AS pu_cell,
        {cell_sql("ST_X(p.dropoff_point)", "ST_Y(p.dropoff_point)")} AS dr_cell
    FROM parcels_parcel p
    WHERE p.id = %(parcel_id)s
),
cand AS MATERIALIZED (
    -- Trips with a piece whose octagon holds the pickup and whose time range meets the pickup
    -- window, and likewise for the drop-off and the delivery window: two index-only range
    -- scans of the (cell, starts_minute, ...) B-tree, intersected (HashSetOp or sort: never
    -- quadratic, whatever the prepared plan's row estimates).
    {_cell_probe_sql("pu", "pw")}
    INTERSECT
    {_cell_probe_sql("dr", "dw")}
),
near AS MATERIALIZED (
    SELECT {_TRIP_COLUMNS}, p.parcel_id, p.pu_point, p.dr_point, p.pu_merc, p.dr_merc,
        p.pw_start, p.pw_end, p.dw_start, p.dw_end
    FROM cand
    JOIN trips_trip t ON t.id = cand.trip_id
    CROSS JOIN p
    WHERE t.status IN ('planned', 'active')
      AND t.courier_id <> p.shipper_id
      AND array_position({SIZE_ARRAY}, t.max_size_class::text)
          >= array_position({SIZE_ARRAY}, p.size_class::text)
      AND t.reserved_weight_grams + p.weight_grams <= t.max_weight_grams
      AND t.reserved_parcels < t.max_parcels
      AND ST_DWithin(t.route_merc, p.pu_merc, t.corridor_m * %(pickup_scale)s)
      AND ST_DWithin(t.route_merc, p.dr_merc, t.corridor_m * %(dropoff_scale)s)
),
{_fit_tail(_COURIER_VERIFIED)}
"""

PARCELS_FOR_TRIP_SQL = f"""
WITH s AS MATERIALIZED (
    SELECT ST_MakeEnvelope((s.reach_box[1])[0], (s.reach_box[1])[1],
                           (s.reach_box[0])[0], (s.reach_box[0])[1], 3857) AS reach,
           s.active_range
    FROM matching_tripsegment s
    WHERE s.trip_id = %(trip_id)s
),
cand AS MATERIALIZED (
    -- Open parcels whose pickup lies in a piece's reach and whose pickup window meets the
    -- piece's time range, and likewise for the drop-off and the delivery window.
    SELECT p.id
    FROM s JOIN parcels_parcel p
      ON p.status = 'open' AND p.pickup_merc && s.reach AND p.match_range && s.active_range
     AND tstzrange(p.pickup_window_start, p.pickup_window_end, '[]') && s.active_range
    INTERSECT
    SELECT p.id
    FROM s JOIN parcels_parcel p
      ON p.status = 'open' AND p.dropoff_merc && s.reach AND p.match_range && s.active_range
     AND tstzrange(p.delivery_window_start, p.delivery_window_end, '[]') && s.active_range
),
near AS MATERIALIZED (
    SELECT {_TRIP_COLUMNS}, {_PARCEL_COLUMNS}
    FROM cand
    JOIN parcels_parcel p ON p.id = cand.id
    CROSS JOIN trips_trip t
    WHERE t.id = %(trip_id)s
      AND NOT p.is_test
      AND p.shipper_id <> t.courier_id
      AND array_position({SIZE_ARRAY}, p.size_class::text)
          <= array_position({SIZE_ARRAY}, t.max_size_class::text)
      AND t.reserved_weight_grams + p.weight_grams <= t.max_weight_grams
      AND ST_DWithin(t.route_merc, p.pickup_merc,
                     t.corridor_m * {PREFILTER_MARGIN} / cos(radians(ST_Y(p.pickup_point))))
      AND ST_DWithin(t.route_merc, p.dropoff_merc,
                     t.corridor_m * {PREFILTER_MARGIN} / cos(radians(ST_Y(p.dropoff_point))))
),
{_fit_tail()}
"""


def _fits(sql: str, params: dict[str, object]) -> list[Fit]:
    """Run one of the queries above as a prepared statement on this connection.

    Django's cursors bind parameters on the client, so every call sends new SQL text and the
    server plans the big CTE query again (1-2 ms, as much as a whole typical match). Here the
    parameters are bound on the server and the statement is prepared once per connection
    (psycopg keeps it). Behind a pooler in transaction mode this needs protocol-level prepared
    statements (PgBouncer >= 1.21).
    """
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's statement preparation off (None), and psycopg then ignores
        # prepare=True too. A threshold never reached prepares only what asks for it: Django's
        # own cursors bind on the client and are never prepared whatever this says.
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        if connection.queries_logged:
            # Django's debug wrapper only times and logs (sql, params) around the raw psycopg
            # cursor; its stubs expect a Django cursor and Django's parameter types.
            debug = connection.make_debug_cursor(cursor)  # type: ignore[arg-type]
            with debug.debug_sql(sql, params):  # type: ignore[arg-type]
                cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params, prepare=True)
        return [Fit(*row) for row in cursor.fetchall()]


def trips_for_parcel(parcel: Parcel, *, limit: int = 50) -> list[Fit]:
    """Trips the parcel fits, best first. None for a test-mode parcel (a merchant's test key):
    those are never offered to real couriers."""
    if parcel.status != ParcelStatus.OPEN or parcel.is_test:
        return []
    with metrics.observe_seconds(metrics.MATCHING_SECONDS, direction="parcel"):
        return _fits(
            TRIPS_FOR_PARCEL_SQL,
            {
                "parcel_id": parcel.pk,
                "pickup_scale": PREFILTER_MARGIN * mercator_scale(parcel.pickup_point.y),
                "dropoff_scale": PREFILTER_MARGIN * mercator_scale(parcel.dropoff_point.y),
                "limit": limit,
                "now": timezone.now(),
            },
        )


def parcels_for_trip(trip: Trip, *, limit: int = 50) -> list[Fit]:
    """Open parcels that fit the trip, best first. Empty unless the trip is matchable."""
    if trip.status not in MATCHABLE_TRIP_STATUSES or trip.reserved_parcels >= trip.max_parcels:
        return []
    profile = getattr(trip.courier, "courier_profile", None)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        return []
    with metrics.observe_seconds(metrics.MATCHING_SECONDS, direction="trip"):
        return _fits(
            PARCELS_FOR_TRIP_SQL, {"trip_id": trip.pk, "limit": limit, "now": timezone.now()}
        )
