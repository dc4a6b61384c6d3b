"""The route pieces the engine probes (matching_tripsegment, and their grid cells in
matching_tripcell), rebuilt from the trip in SQL.

A route is cut in order along it into pieces of `SEGMENT_STEPS` steps (consecutive vertices).
Each piece gets
- its reach: the bounding box of its steps in Mercator, grown by the corridor at the piece's
  largest latitude (plus the corridor), times `REACH_MARGIN`;
- its own time range: [departure_earliest + start / speed, departure_latest + end / speed],
  widened by `TIME_SLACK`, where start and end are the metres on the spheroid from the route's
  start to the piece's first and last vertex (the sum of the steps' geodesic lengths, as the
  engine measures positions). The courier passes any point of the piece within that range.

Parcel -> trips finds pieces by place and time through matching_tripcell: each piece is listed
once per grid cell its reach overlaps (and per `CELL_SPAN` of its time range), under a B-tree on
(cell, starts_at). Cells are about `CELL_M` metres on a side at every latitude: rows of
`CELL_M` metres of latitude, each cut into columns of `CELL_M` metres of longitude at the row's
middle latitude (`cell_sql`). A point's cell is computed by the same SQL expression as the
cells a reach covers, so a point inside a reach is always in one of the reach's cells.
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
# Grid cells, metres on a side. Smaller cells list each piece in more cells but make a probe
# read fewer rows that lie outside the point's reach (docs/bench.md).
CELL_M = 2000
# Longest time range of one matching_tripcell row: a longer one is cut into several rows, so a
# probe for a window [start, end] reads only starts_at in [start - CELL_SPAN, end].
CELL_SPAN = "1 hour"
CELL_SPAN_S = 3600
# A cell id is row * CELL_ROW_STRIDE + column (|column| < 180 degrees / CELL_M < stride / 2).
CELL_ROW_STRIDE = 10_000_000
_ROW_DEG = f"({CELL_M}::float8 / 111000)"
_MERCATOR_R = 6378137


def _row_sql(lat: str) -> str:
    return f"floor(({lat}) / {_ROW_DEG})::int"


def _column_sql(lon: str, row: str) -> str:
    # Column width at the row's middle latitude (capped at 85 degrees, where Mercator ends).
    width = (
        f"({CELL_M}::float8 / (111000 * cos(radians(LEAST(85, abs(({row} + 0.5) * {_ROW_DEG}))))))"
    )
    return f"floor(({lon}) / {width})::int"


def cell_sql(lon: str, lat: str) -> str:
    """SQL for the grid cell of the point (lon, lat) in degrees."""
    row = _row_sql(lat)
    return f"({row}::bigint * {CELL_ROW_STRIDE} + {_column_sql(lon, row)})"


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


# Each piece of these trips, once per grid cell its reach overlaps and per CELL_SPAN of its time
# range. The reach box is in Mercator: its corners convert exactly to longitude/latitude bounds
# (EPSG:3857 on the sphere of radius _MERCATOR_R), and every cell those bounds overlap is listed.
CELLS_SQL = f"""
WITH gone AS (DELETE FROM matching_tripcell WHERE trip_id = ANY(%(ids)s)),
b AS (
    SELECT s.trip_id, s.reach_box, lower(s.active_range) AS lo, upper(s.active_range) AS hi,
           degrees((s.reach_box[1])[0] / {_MERCATOR_R}) AS lon0,
           degrees((s.reach_box[0])[0] / {_MERCATOR_R}) AS lon1,
           degrees(2 * atan(exp((s.reach_box[1])[1] / {_MERCATOR_R})) - pi() / 2) AS lat0,
           degrees(2 * atan(exp((s.reach_box[0])[1] / {_MERCATOR_R})) - pi() / 2) AS lat1
    FROM matching_tripsegment s
    WHERE s.trip_id = ANY(%(ids)s)
)
INSERT INTO matching_tripcell
    (trip_id, cell, starts_at, ends_at, reach_xmin, reach_xmax, reach_ymin, reach_ymax)
SELECT b.trip_id, r.n::bigint * {CELL_ROW_STRIDE} + c.n, ch.lo, ch.hi,
       (b.reach_box[1])[0], (b.reach_box[0])[0], (b.reach_box[1])[1], (b.reach_box[0])[1]
FROM b
CROSS JOIN LATERAL (
    SELECT b.lo + k * interval '{CELL_SPAN}' AS lo,
           LEAST(b.hi, b.lo + (k + 1) * interval '{CELL_SPAN}') AS hi
    FROM generate_series(
        0, GREATEST(0, ceil(extract(epoch FROM b.hi - b.lo) / {CELL_SPAN_S})::int - 1)) AS k
) AS ch
CROSS JOIN LATERAL generate_series({_row_sql("b.lat0")}, {_row_sql("b.lat1")}) AS r(n)
CROSS JOIN LATERAL generate_series(
    {_column_sql("b.lon0", "r.n")}, {_column_sql("b.lon1", "r.n")}) AS c(n)
"""


# Measured routes (matching_triproute): the Mercator route cut into steps of at most
# MEASURE_STEP units (ST_Segmentize keeps the same line), M = metres on the spheroid from the
# start, summed over the geodesic steps between consecutive vertices. 1000 units are 1 km at
# the equator, 600 m at 53 degrees: linear interpolation of M inside such a step is off by less
# than a centimetre (the Mercator scale changes by tan(latitude) x step / earth radius along it).
MEASURE_STEP = 1000
MEASURED_SQL = f"""
WITH pts AS (
    SELECT t.id AS trip_id, d.path[1] AS n, d.geom AS merc,
           ST_Transform(d.geom, 4326)::geography AS geog
    FROM trips_trip t
    CROSS JOIN LATERAL ST_DumpPoints(ST_Segmentize(t.route_merc, {MEASURE_STEP})) AS d
    WHERE t.id = ANY(%(ids)s) AND t.status IN ('planned', 'active')
),
steps AS (
    SELECT trip_id, n, merc,
           COALESCE(ST_Distance(lag(geog) OVER (PARTITION BY trip_id ORDER BY n), geog), 0)
               AS step_m
    FROM pts
)
INSERT INTO matching_triproute (trip_id, measured)
SELECT trip_id,
       ST_SetSRID(ST_MakeLine(array_agg(ST_MakePointM(ST_X(merc), ST_Y(merc), m) ORDER BY n)),
                  3857)
FROM (
    SELECT trip_id, n, merc, sum(step_m) OVER (PARTITION BY trip_id ORDER BY n) AS m FROM steps
) AS cum
GROUP BY trip_id
"""


def trip_segments_rebuild(trip_ids: Iterable[int]) -> None:
    """Replace the pieces (and their cells) and the measured routes of these trips; trips no
    longer planned/active get none."""
    ids = list(trip_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_REBUILD_SQL, {"ids": ids})
        cursor.execute(CELLS_SQL, {"ids": ids})
        # A separate statement: in the same one, the insert would meet the old row's key.
        cursor.execute("DELETE FROM matching_triproute WHERE trip_id = ANY(%(ids)s)", {"ids": ids})
        cursor.execute(MEASURED_SQL, {"ids": ids})
