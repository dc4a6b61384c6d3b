"""The route pieces the engine probes (matching_tripsegment, and their grid cells in
matching_tripcell), rebuilt from the trip in SQL.

A route is cut in order along it into pieces of `SEGMENT_STEPS` steps (consecutive vertices).
Each piece gets
- its reach: the bounding box of its steps in Mercator, grown by the corridor at the piece's
  largest latitude (plus the corridor), times `REACH_MARGIN`;
- its diagonal reach: the same in the frame turned by 45 degrees (u = x + y, v = x - y), grown
  by that growth times sqrt(2) (a step of d units changes u and v by at most d sqrt(2)). A point
  within the corridor of the piece lies in both boxes, i.e. in their intersection, an octagon
  that hugs a diagonal piece much closer than its bounding box does;
- its own time range: [departure_earliest + start / speed, departure_latest + end / speed],
  widened by `TIME_SLACK`, where start and end are the metres on the spheroid from the route's
  start to the piece's first and last vertex (the sum of the steps' geodesic lengths, as the
  engine measures positions). The courier passes any point of the piece within that range.

Parcel -> trips finds trips by place and time through matching_tripcell: each trip is listed
once per grid cell one of its pieces' octagons overlaps (and per `CELL_SPAN_MINUTES` of time),
with the octagon and time range around all of its pieces there, under a B-tree on
(cell, starts_minute, ...). Cells are about `CELL_M` metres on a side at every latitude: rows
of `CELL_M` metres of latitude, each cut into columns of `CELL_M` metres of longitude at the
row's middle latitude (`cell_sql`). A point's cell is computed by the same SQL expression as the
cells a reach covers, so a point inside a reach is always in one of the reach's cells; a cell is
left out only when its rectangle (in Mercator, grown by `CELL_SLACK` units) misses the octagon.

The cell rows hold integers only (4 bytes each, so the probe's B-tree is a third smaller than
with 8-byte timestamps and floats, and more of it stays in memory), every bound rounded outward:
times in whole minutes since the Unix epoch (start down, end up), reach bounds in whole Mercator
units (minimum down, maximum up). A probe therefore reads a few more entries than exact bounds
would give, never fewer; the engine's exact checks come after it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

# Steps (vertex to vertex) per piece. Smaller pieces give tighter boxes but more rows; 3 and 6
# measured the same (docs/bench.md).
SEGMENT_STEPS = 6
# Growth margin for the reach boxes over the latitude scale at the piece's far edge.
REACH_MARGIN = 1.02
# Widening of each piece's time range: covers rounding between these sums and the engine's
# position measure (nanometres to centimetres), with a wide margin.
TIME_SLACK = "1 minute"
# Grid cells, metres on a side. Smaller cells list each trip in more cells, but a probe reads
# fewer rows, and the octagon around a trip's pieces in a cell stays closer to its corridor
# there (docs/bench.md: 1 km beat 1.5 and 2 km).
CELL_M = 1000
# Longest time range of one matching_tripcell row, in minutes: a longer one is cut into several
# rows, so a probe for a window [start, end] reads only starts_minute in [start - span, end].
CELL_SPAN_MINUTES = 60
# A cell id is row * CELL_ROW_STRIDE + column, a 4-byte integer: |column| <= 180 degrees / (CELL_M
# at the equator) ~ 20 000 < stride / 2, |row| <= 90 degrees / CELL_M ~ 10 000, so |id| < 2^31.
CELL_ROW_STRIDE = 100_000
# Margin (Mercator units) when a cell's rectangle is tested against a piece's octagon: covers
# rounding between a point's cell (from its longitude/latitude) and its Mercator coordinates.
CELL_SLACK = 1
_ROW_DEG = f"({CELL_M}::float8 / 111000)"
_MERCATOR_R = 6378137


def _row_sql(lat: str) -> str:
    return f"floor(({lat}) / {_ROW_DEG})::int"


def _width_sql(row: str) -> str:
    # Column width (degrees of longitude) at the row's middle latitude (capped at 85 degrees,
    # where Mercator ends).
    return (
        f"({CELL_M}::float8 / (111000 * cos(radians(LEAST(85, abs(({row} + 0.5) * {_ROW_DEG}))))))"
    )


def _column_sql(lon: str, row: str) -> str:
    return f"floor(({lon}) / {_width_sql(row)})::int"


def cell_sql(lon: str, lat: str) -> str:
    """SQL for the grid cell (an integer) of the point (lon, lat) in degrees."""
    row = _row_sql(lat)
    return f"({row} * {CELL_ROW_STRIDE} + {_column_sql(lon, row)})"


def minute_sql(timestamp: str, rounding: str) -> str:
    """SQL for a timestamp in whole minutes since the Unix epoch, `rounding` = floor or ceil
    (exact: extract gives a numeric)."""
    return f"{rounding}(extract(epoch FROM {timestamp}) / 60)::int"


def _u(point: str) -> str:
    return f"(ST_X({point}) + ST_Y({point}))"


def _v(point: str) -> str:
    return f"(ST_X({point}) - ST_Y({point}))"


def _merc_x(lon: str) -> str:
    return f"({_MERCATOR_R} * radians({lon}))"


def _merc_y(lat: str) -> str:
    return f"({_MERCATOR_R} * ln(tan(pi() / 4 + radians(LEAST(89.9, GREATEST(-89.9, {lat}))) / 2)))"


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
           min(LEAST({_u("ST_StartPoint(merc)")}, {_u("ST_EndPoint(merc)")})) AS umin,
           max(GREATEST({_u("ST_StartPoint(merc)")}, {_u("ST_EndPoint(merc)")})) AS umax,
           min(LEAST({_v("ST_StartPoint(merc)")}, {_v("ST_EndPoint(merc)")})) AS vmin,
           max(GREATEST({_v("ST_StartPoint(merc)")}, {_v("ST_EndPoint(merc)")})) AS vmax,
           max(abs_lat) AS abs_lat, min(end_m - step_m) AS start_m, max(end_m) AS end_m
    FROM steps
    GROUP BY trip_id, piece
)
INSERT INTO matching_tripsegment (trip_id, reach_box, reach_diag, active_range)
SELECT t.id,
       box(point(pc.xmin - r.grow, pc.ymin - r.grow), point(pc.xmax + r.grow, pc.ymax + r.grow)),
       box(point(pc.umin - r.grow * sqrt(2), pc.vmin - r.grow * sqrt(2)),
           point(pc.umax + r.grow * sqrt(2), pc.vmax + r.grow * sqrt(2))),
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


# These trips, once per grid cell one of their pieces' octagons overlaps and per CELL_SPAN of time.
# The reach box is in Mercator: its corners convert exactly to longitude/latitude bounds (EPSG:3857
# on the sphere of radius _MERCATOR_R); of the cells those bounds overlap, the ones whose Mercator
# rectangle misses the diagonal reach (so the octagon) are left out. A trip's pieces in one cell
# are merged: the row holds the smallest octagon and time range around all of them (rounded
# outward to integers), its time range cut into stretches of CELL_SPAN_MINUTES.
CELLS_SQL = f"""
WITH gone AS (DELETE FROM matching_tripcell WHERE trip_id = ANY(%(ids)s)),
b AS (
    SELECT s.trip_id, s.reach_box, s.reach_diag,
           lower(s.active_range) AS lo, upper(s.active_range) AS hi,
           degrees((s.reach_box[1])[0] / {_MERCATOR_R}) AS lon0,
           degrees((s.reach_box[0])[0] / {_MERCATOR_R}) AS lon1,
           degrees(2 * atan(exp((s.reach_box[1])[1] / {_MERCATOR_R})) - pi() / 2) AS lat0,
           degrees(2 * atan(exp((s.reach_box[0])[1] / {_MERCATOR_R})) - pi() / 2) AS lat1
    FROM matching_tripsegment s
    WHERE s.trip_id = ANY(%(ids)s)
),
pairs AS (
    SELECT b.*, r.n AS row_n, c.n AS col_n, k.*
    FROM b
    CROSS JOIN LATERAL generate_series({_row_sql("b.lat0")}, {_row_sql("b.lat1")}) AS r(n)
    CROSS JOIN LATERAL generate_series(
        {_column_sql("b.lon0", "r.n")}, {_column_sql("b.lon1", "r.n")}) AS c(n)
    CROSS JOIN LATERAL (
        SELECT {_merc_x(f"c.n * {_width_sql('r.n')}")} AS x0,
               {_merc_x(f"(c.n + 1) * {_width_sql('r.n')}")} AS x1,
               {_merc_y(f"r.n * {_ROW_DEG}")} AS y0,
               {_merc_y(f"(r.n + 1) * {_ROW_DEG}")} AS y1
    ) AS k
    -- The cell's rectangle (u = x + y from x0 + y0 to x1 + y1, v = x - y from x0 - y1 to
    -- x1 - y0) meets the diagonal reach.
    WHERE k.x0 + k.y0 - {CELL_SLACK} <= (b.reach_diag[0])[0]
      AND k.x1 + k.y1 + {CELL_SLACK} >= (b.reach_diag[1])[0]
      AND k.x0 - k.y1 - {CELL_SLACK} <= (b.reach_diag[0])[1]
      AND k.x1 - k.y0 + {CELL_SLACK} >= (b.reach_diag[1])[1]
),
merged AS (
    SELECT trip_id, row_n * {CELL_ROW_STRIDE} + col_n AS cell,
           {minute_sql("min(lo)", "floor")} AS starts, {minute_sql("max(hi)", "ceil")} AS ends,
           floor(min((reach_box[1])[0]))::int AS xmin, ceil(max((reach_box[0])[0]))::int AS xmax,
           floor(min((reach_box[1])[1]))::int AS ymin, ceil(max((reach_box[0])[1]))::int AS ymax,
           floor(min((reach_diag[1])[0]))::int AS umin, ceil(max((reach_diag[0])[0]))::int AS umax,
           floor(min((reach_diag[1])[1]))::int AS vmin, ceil(max((reach_diag[0])[1]))::int AS vmax
    FROM pairs
    GROUP BY trip_id, row_n, col_n
)
INSERT INTO matching_tripcell
    (trip_id, cell, starts_minute, ends_minute,
     reach_xmin, reach_xmax, reach_ymin, reach_ymax,
     reach_umin, reach_umax, reach_vmin, reach_vmax)
SELECT m.trip_id, m.cell, stretch, LEAST(m.ends, stretch + {CELL_SPAN_MINUTES}),
       m.xmin, m.xmax, m.ymin, m.ymax, m.umin, m.umax, m.vmin, m.vmax
FROM merged m
CROSS JOIN LATERAL generate_series(
    m.starts, GREATEST(m.starts, m.ends - 1), {CELL_SPAN_MINUTES}) AS stretch
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
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner's estimates for these statements (generate_series guesses 1 000 rows) pass
        # the JIT threshold, and compiling took ~430 ms per trip where running takes a few. JIT
        # is off for them only: the caller's transaction gets its own setting back (an error
        # rolls the savepoint, and the setting with it, back).
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        jit = cursor.fetchone()[0]
        cursor.execute(_REBUILD_SQL, {"ids": ids})
        cursor.execute(CELLS_SQL, {"ids": ids})
        # A separate statement: in the same one, the insert would meet the old row's key.
        cursor.execute("DELETE FROM matching_triproute WHERE trip_id = ANY(%(ids)s)", {"ids": ids})
        cursor.execute(MEASURED_SQL, {"ids": ids})
        cursor.execute("SELECT set_config('jit', %s, true)", [jit])
