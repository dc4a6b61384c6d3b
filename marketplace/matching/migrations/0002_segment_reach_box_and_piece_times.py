# Hand-written: the pieces change shape (reach as a native box, per-piece time ranges), so
# they are dropped and rebuilt from the trips with the SQL of marketplace.matching.segments as
# it was when this migration was written.

from django.db import migrations

import marketplace.matching.models
import django.contrib.postgres.indexes

REBUILD_SQL = """
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
           max(abs_lat) AS abs_lat, min(end_m - step_m) AS start_m, max(end_m) AS end_m
    FROM steps
    GROUP BY trip_id, piece
)
INSERT INTO matching_tripsegment (trip_id, reach_box, active_range)
SELECT t.id,
       box(point(pc.xmin - r.grow, pc.ymin - r.grow), point(pc.xmax + r.grow, pc.ymax + r.grow)),
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


class Migration(migrations.Migration):

    dependencies = [
        ('matching', '0001_initial'),
        ('trips', '0002_trip_active_range_trip_reserved_parcels_and_more'),
    ]

    operations = [
        migrations.RunSQL("DELETE FROM matching_tripsegment", migrations.RunSQL.noop),
        migrations.RemoveIndex(model_name='tripsegment', name='segment_reach_time_gist'),
        migrations.RemoveField(model_name='tripsegment', name='geom'),
        migrations.RemoveField(model_name='tripsegment', name='reach'),
        migrations.AddField(
            model_name='tripsegment',
            name='reach_box',
            field=marketplace.matching.models.BoxField(),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name='tripsegment',
            index=django.contrib.postgres.indexes.GistIndex(fields=['reach_box', 'active_range'], include=('trip_id',), name='segment_reach_box_time_gist'),
        ),
        # The probe is index-only as long as the visibility map is current: vacuum this table
        # after 1 % of it changed rather than the default 20 %.
        migrations.RunSQL(
            "ALTER TABLE matching_tripsegment SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)",
            "ALTER TABLE matching_tripsegment RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)",
        ),
        migrations.RunSQL(REBUILD_SQL, "DELETE FROM matching_tripsegment"),
    ]
