"""The route pieces the engine probes (matching_tripsegment), rebuilt from the trip in SQL.

A route is cut in order along it into pieces of `SEGMENT_STEPS` steps (consecutive vertices).
Each piece gets
- its reach: the bounding box of its steps in Mercator, grown by the corridor at the piece's
  largest latitude (plus the corridor), times `REACH_MARGIN`;
- its own time range: [departure_earliest + start / speed, departure_latest + end / speed],
  widened by `TIME_SLACK`, where start and end are the metres on the spheroid from the route's
  start to the piece's first and last vertex (the sum of the steps' geodesic lengths, as the
  engine measures positions). The courier passes any point of the piece within that range.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# Steps (vertex to vertex) per piece. Smaller pieces give tighter boxes but more rows; 3 and 6
# measured the same (docs/bench.md).
SEGMENT_STEPS = 6
# Growth margin for the reach boxes over the latitude scale at the piece's far edge.
REACH_MARGIN = 1.02
# Widening of each piece's time range: covers rounding between these sums and the engine's
# position measure (nanometres to centimetres), with a wide margin.
TIME_SLACK = "1 minute"

_REBUILD_SQL = f"""
WITH gone AS (DELETE FROM matching_tripsegment WHERE trip_id = ANY(%(ids)s)),
steps AS (
    SELECT t.id AS trip_id, (d.path[1] - 1) / {SEGMENT_STEPS} AS piece,
           ST_Transform(d.geom, 3857) AS merc,
           GREATEST(abs(ST_YMin(d.geom)), abs(ST_YMax(d.geom))) AS abs_lat,
           sum(ST_Length(d.geom::geography))
               OVER (PARTITION BY t.id ORDER BY d.path[1]) AS end_m,
           ST_Length(d.geom::geography) AS step_m
    FROM trips_trip t
    CROSS JOIN LATERAL ST_DumpSegments(t.route) AS d
    WHERE t.id = ANY(%(ids)s) AND t.status IN ('planned', 'active')
),
pieces AS (
    SELECT trip_id, piece,
           min(ST_XMin(merc)) AS xmin, min(ST_YMin(merc)) AS ymin,
           max(ST_XMax(merc)) AS xmax, max(ST_YMax(merc)) AS ymax,
           max(abs_lat) AS abs_lat, min(end_m - step_m) AS start_m, max(end_m) AS end_m
    FROM steps
    GROUP BY trip_id, piece
)
INSERT INTO matching_tripsegment (trip_id, reach_box, active_range)
SELECT t.id,
       box(point(pc.xmin - r.grow, pc.ymin - r.grow), point(pc.xmax + r.grow, pc.ymax + r.grow)),
       tstzrange(
           t.departure_earliest + make_interval(secs => pc.start_m * 3.6 / t.speed_kmh)
               - interval '{TIME_SLACK}',
           t.departure_latest + make_interval(secs => pc.end_m * 3.6 / t.speed_kmh)
               + interval '{TIME_SLACK}',
           '[]'
       )
FROM pieces pc
JOIN trips_trip t ON t.id = pc.trip_id
CROSS JOIN LATERAL (
    SELECT t.corridor_m * {REACH_MARGIN}
           / cos(radians(LEAST(85, pc.abs_lat + t.corridor_m / 111000.0))) AS grow
) AS r
"""


def trip_segments_rebuild(trip_ids: Iterable[int]) -> None:
    """Replace the pieces of these trips; trips no longer planned/active get none."""
    ids = list(trip_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_REBUILD_SQL, {"ids": ids})
