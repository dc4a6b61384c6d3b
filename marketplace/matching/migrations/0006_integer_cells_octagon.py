# Written by hand (Django 5.2): the cell rows become one per trip and 1 km cell, 4-byte integers
# rounded outward, with the pieces' diagonal reach (docs/bench.md, round 3). The pieces and their
# cells are rebuilt with the SQL of marketplace.matching.segments as it was when this migration
# was written.

import marketplace.matching.models
from django.db import migrations, models

# Every planned or active trip's pieces, with their diagonal reach.
PIECES_SQL = """
WITH steps AS (
    SELECT t.id AS trip_id, (d.path[1] - 1) / 6 AS piece,
           ST_Transform(d.geom, 3857) AS merc,
           GREATEST(abs(ST_YMin(d.geom)), abs(ST_YMax(d.geom))) AS abs_lat,
           sum(ST_Length(d.geom::geography))
               OVER (PARTITION BY t.id ORDER BY d.path[1]) AS end_m,
           ST_Length(d.geom::geography) AS step_m
    FROM trips_trip t
    CROSS JOIN LATERAL ST_DumpSegments(t.route) AS d
    WHERE t.status IN ('planned', 'active')
),
pieces AS (
    SELECT trip_id, piece,
           min(ST_XMin(merc)) AS xmin, min(ST_YMin(merc)) AS ymin,
           max(ST_XMax(merc)) AS xmax, max(ST_YMax(merc)) AS ymax,
           min(LEAST((ST_X(ST_StartPoint(merc)) + ST_Y(ST_StartPoint(merc))), (ST_X(ST_EndPoint(merc)) + ST_Y(ST_EndPoint(merc))))) AS umin,
           max(GREATEST((ST_X(ST_StartPoint(merc)) + ST_Y(ST_StartPoint(merc))), (ST_X(ST_EndPoint(merc)) + ST_Y(ST_EndPoint(merc))))) AS umax,
           min(LEAST((ST_X(ST_StartPoint(merc)) - ST_Y(ST_StartPoint(merc))), (ST_X(ST_EndPoint(merc)) - ST_Y(ST_EndPoint(merc))))) AS vmin,
           max(GREATEST((ST_X(ST_StartPoint(merc)) - ST_Y(ST_StartPoint(merc))), (ST_X(ST_EndPoint(merc)) - ST_Y(ST_EndPoint(merc))))) AS vmax,
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
               - interval '1 minute',
           t.departure_latest + make_interval(secs => pc.end_m * 3.6 / t.speed_kmh)
               + interval '1 minute',
           '[]'
       )
FROM pieces pc
JOIN trips_trip t ON t.id = pc.trip_id
CROSS JOIN LATERAL (
    SELECT t.corridor_m * 1.02
           / cos(radians(LEAST(85, pc.abs_lat + t.corridor_m / 111000.0))) AS grow
) AS r
"""

# Their cells: one row per trip and cell its pieces' octagons meet (and hour of time).
CELLS_SQL = """
WITH b AS (
    SELECT s.trip_id, s.reach_box, s.reach_diag,
           lower(s.active_range) AS lo, upper(s.active_range) AS hi,
           degrees((s.reach_box[1])[0] / 6378137) AS lon0,
           degrees((s.reach_box[0])[0] / 6378137) AS lon1,
           degrees(2 * atan(exp((s.reach_box[1])[1] / 6378137)) - pi() / 2) AS lat0,
           degrees(2 * atan(exp((s.reach_box[0])[1] / 6378137)) - pi() / 2) AS lat1
    FROM matching_tripsegment s
),
pairs AS (
    SELECT b.*, r.n AS row_n, c.n AS col_n, k.*
    FROM b
    CROSS JOIN LATERAL generate_series(floor((b.lat0) / (1000::float8 / 111000))::int, floor((b.lat1) / (1000::float8 / 111000))::int) AS r(n)
    CROSS JOIN LATERAL generate_series(
        floor((b.lon0) / (1000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (1000::float8 / 111000))))))))::int, floor((b.lon1) / (1000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (1000::float8 / 111000))))))))::int) AS c(n)
    CROSS JOIN LATERAL (
        SELECT (6378137 * radians(c.n * (1000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (1000::float8 / 111000))))))))) AS x0,
               (6378137 * radians((c.n + 1) * (1000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (1000::float8 / 111000))))))))) AS x1,
               (6378137 * ln(tan(pi() / 4 + radians(LEAST(89.9, GREATEST(-89.9, r.n * (1000::float8 / 111000)))) / 2))) AS y0,
               (6378137 * ln(tan(pi() / 4 + radians(LEAST(89.9, GREATEST(-89.9, (r.n + 1) * (1000::float8 / 111000)))) / 2))) AS y1
    ) AS k
    -- The cell's rectangle (u = x + y from x0 + y0 to x1 + y1, v = x - y from x0 - y1 to
    -- x1 - y0) meets the diagonal reach.
    WHERE k.x0 + k.y0 - 1 <= (b.reach_diag[0])[0]
      AND k.x1 + k.y1 + 1 >= (b.reach_diag[1])[0]
      AND k.x0 - k.y1 - 1 <= (b.reach_diag[0])[1]
      AND k.x1 - k.y0 + 1 >= (b.reach_diag[1])[1]
),
merged AS (
    SELECT trip_id, row_n * 100000 + col_n AS cell,
           floor(extract(epoch FROM min(lo)) / 60)::int AS starts, ceil(extract(epoch FROM max(hi)) / 60)::int AS ends,
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
SELECT m.trip_id, m.cell, stretch, LEAST(m.ends, stretch + 60),
       m.xmin, m.xmax, m.ymin, m.ymax, m.umin, m.umax, m.vmin, m.vmax
FROM merged m
CROSS JOIN LATERAL generate_series(
    m.starts, GREATEST(m.starts, m.ends - 1), 60) AS stretch
"""

# The cells as 0003 made them (for reversing this migration).
OLD_CELLS_SQL = """
WITH b AS (
    SELECT s.trip_id, s.reach_box, lower(s.active_range) AS lo, upper(s.active_range) AS hi,
           degrees((s.reach_box[1])[0] / 6378137) AS lon0,
           degrees((s.reach_box[0])[0] / 6378137) AS lon1,
           degrees(2 * atan(exp((s.reach_box[1])[1] / 6378137)) - pi() / 2) AS lat0,
           degrees(2 * atan(exp((s.reach_box[0])[1] / 6378137)) - pi() / 2) AS lat1
    FROM matching_tripsegment s
)
INSERT INTO matching_tripcell
    (trip_id, cell, starts_at, ends_at, reach_xmin, reach_xmax, reach_ymin, reach_ymax)
SELECT b.trip_id, r.n::bigint * 10000000 + c.n, ch.lo, ch.hi,
       (b.reach_box[1])[0], (b.reach_box[0])[0], (b.reach_box[1])[1], (b.reach_box[0])[1]
FROM b
CROSS JOIN LATERAL (
    SELECT b.lo + k * interval '1 hour' AS lo,
           LEAST(b.hi, b.lo + (k + 1) * interval '1 hour') AS hi
    FROM generate_series(
        0, GREATEST(0, ceil(extract(epoch FROM b.hi - b.lo) / 3600)::int - 1)) AS k
) AS ch
CROSS JOIN LATERAL generate_series(floor((b.lat0) / (2000::float8 / 111000))::int, floor((b.lat1) / (2000::float8 / 111000))::int) AS r(n)
CROSS JOIN LATERAL generate_series(
    floor((b.lon0) / (2000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (2000::float8 / 111000))))))))::int, floor((b.lon1) / (2000::float8 / (111000 * cos(radians(LEAST(85, abs((r.n + 0.5) * (2000::float8 / 111000))))))))::int) AS c(n)
"""

CELL_FIELDS = ["cell", "starts_minute", "ends_minute"] + [
    f"reach_{axis}{end}" for axis in "xyuv" for end in ("min", "max")
]


class Migration(migrations.Migration):

    dependencies = [
        ("matching", "0005_one_trip_index_per_table"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="tripcell", name="tripcell_cell_time"),
        # The foreign-key checks of the rows inserted (deferred by Django) must run before an
        # index can be made in the same transaction: here when reversing, and below.
        migrations.RunSQL(migrations.RunSQL.noop, "SET CONSTRAINTS ALL IMMEDIATE"),
        # Emptied here, refilled at the end (both ways).
        migrations.RunSQL("DELETE FROM matching_tripcell", OLD_CELLS_SQL),
        migrations.RemoveField(model_name="tripcell", name="starts_at"),
        migrations.RemoveField(model_name="tripcell", name="ends_at"),
        migrations.AlterField(
            model_name="tripcell", name="cell", field=models.IntegerField()
        ),
        *(
            migrations.AlterField(
                model_name="tripcell", name=f"reach_{axis}{end}", field=models.IntegerField()
            )
            for axis in "xy"
            for end in ("min", "max")
        ),
        migrations.AddField(
            model_name="tripcell",
            name="starts_minute",
            field=models.IntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="tripcell",
            name="ends_minute",
            field=models.IntegerField(default=0),
            preserve_default=False,
        ),
        *(
            migrations.AddField(
                model_name="tripcell",
                name=f"reach_{axis}{end}",
                field=models.IntegerField(default=0),
                preserve_default=False,
            )
            for axis in "uv"
            for end in ("min", "max")
        ),
        migrations.AddField(
            model_name="tripsegment",
            name="reach_diag",
            field=marketplace.matching.models.BoxField(default="((0,0),(0,0))"),
            preserve_default=False,
        ),
        # Reversed, the pieces stay: without reach_diag they are what 0005 had.
        migrations.RunSQL(
            ["DELETE FROM matching_tripsegment", PIECES_SQL], migrations.RunSQL.noop
        ),
        migrations.RunSQL(CELLS_SQL, "DELETE FROM matching_tripcell"),
        migrations.RunSQL("SET CONSTRAINTS ALL IMMEDIATE", migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="tripcell",
            index=models.Index(
                fields=CELL_FIELDS, include=("trip",), name="tripcell_cell_time"
            ),
        ),
    ]
