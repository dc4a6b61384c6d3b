"""The plain GeoDjango baseline `bench_matching` compares the engine with.

What a GeoDjango developer writes first, with no further tuning: geography copies of the route
and of the parcel's points with a GiST index each, `dwithin` on them for both points, the order
along the route from `LineLocatePoint` on the longitude/latitude geometry (a fraction, times the
route's length in metres), the same time-window and capacity rules as the engine, ranked by the
`Distance` sum then the predicted drop-off, first 50. The geography columns exist only in the
scratch database (`baseline_columns_add`), read through unmanaged shadow models of the real
tables.
"""

from __future__ import annotations

from typing import Any

from django.contrib.gis.db import models as gis_models
from django.contrib.gis.db.models.functions import Distance, LineLocatePoint
from django.contrib.gis.measure import D
from django.db import connection, models
from django.db.models import DurationField, F, Func, Value
from django.db.models.functions import Greatest, Least

from marketplace.core.sizes import SizeClass
from marketplace.matching.engine import MATCHABLE_TRIP_STATUSES
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip

ADD_COLUMNS_SQL = (
    "ALTER TABLE trips_trip ADD COLUMN IF NOT EXISTS route_geog geography(LineString, 4326)"
    " GENERATED ALWAYS AS (route::geography) STORED",
    "CREATE INDEX IF NOT EXISTS bench_trip_route_geog_gist ON trips_trip USING gist (route_geog)",
    "ALTER TABLE parcels_parcel"
    " ADD COLUMN IF NOT EXISTS pickup_geog geography(Point, 4326)"
    " GENERATED ALWAYS AS (pickup_point::geography) STORED,"
    " ADD COLUMN IF NOT EXISTS dropoff_geog geography(Point, 4326)"
    " GENERATED ALWAYS AS (dropoff_point::geography) STORED",
    "CREATE INDEX IF NOT EXISTS bench_parcel_pickup_geog_gist"
    " ON parcels_parcel USING gist (pickup_geog)",
    "CREATE INDEX IF NOT EXISTS bench_parcel_dropoff_geog_gist"
    " ON parcels_parcel USING gist (dropoff_geog)",
)
DROP_COLUMNS_SQL = (
    "ALTER TABLE trips_trip DROP COLUMN IF EXISTS route_geog",
    "ALTER TABLE parcels_parcel DROP COLUMN IF EXISTS pickup_geog,"
    " DROP COLUMN IF EXISTS dropoff_geog",
)


def baseline_columns_add() -> None:
    """Geography copies, filled by the database from the real columns (best on empty tables)."""
    with connection.cursor() as cursor:
        for statement in ADD_COLUMNS_SQL:
            cursor.execute(statement)


def baseline_columns_drop() -> None:
    with connection.cursor() as cursor:
        for statement in DROP_COLUMNS_SQL:
            cursor.execute(statement)


class BaselineTrip(models.Model):
    """trips_trip as plain GeoDjango sees it, plus the scratch geography column."""

    objects: models.Manager[BaselineTrip] = models.Manager()

    courier = models.ForeignKey(
        "accounts.User", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=12)
    route = gis_models.LineStringField(srid=4326)
    route_geog = gis_models.LineStringField(geography=True, srid=4326)
    route_length_m = models.IntegerField()
    departure_earliest = models.DateTimeField()
    departure_latest = models.DateTimeField()
    speed_kmh = models.IntegerField()
    max_size_class = models.CharField(max_length=2)
    max_weight_grams = models.IntegerField()
    max_parcels = models.IntegerField()
    reserved_weight_grams = models.IntegerField()
    reserved_parcels = models.IntegerField()

    class Meta:
        managed = False
        db_table = "trips_trip"
        app_label = "matching"

    def __str__(self) -> str:
        return f"Trip #{self.pk} (baseline view)"


class BaselineParcel(models.Model):
    """parcels_parcel as plain GeoDjango sees it, plus the scratch geography columns."""

    objects: models.Manager[BaselineParcel] = models.Manager()

    shipper_id = models.BigIntegerField()
    status = models.CharField(max_length=20)
    size_class = models.CharField(max_length=2)
    weight_grams = models.IntegerField()
    pickup_point = gis_models.PointField(srid=4326)
    dropoff_point = gis_models.PointField(srid=4326)
    pickup_geog = gis_models.PointField(geography=True, srid=4326)
    dropoff_geog = gis_models.PointField(geography=True, srid=4326)
    pickup_window_start = models.DateTimeField()
    pickup_window_end = models.DateTimeField()
    delivery_window_start = models.DateTimeField()
    delivery_window_end = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "parcels_parcel"
        app_label = "matching"

    def __str__(self) -> str:
        return f"Parcel #{self.pk} (baseline view)"


def _interval(seconds: Any) -> Func:
    return Func(
        seconds, template="make_interval(secs => %(expressions)s)", output_field=DurationField()
    )


def _sizes_up_from(size_class: str) -> list[str]:
    return [s for s in SizeClass.values if SizeClass.rank(s) >= SizeClass.rank(size_class)]


def baseline_trips_for_parcel(parcel: Parcel, *, corridor_m: int, limit: int = 50) -> list[int]:
    """Ids of the trips the parcel fits, best first, the plain GeoDjango way."""
    pickup, dropoff = parcel.pickup_point, parcel.dropoff_point
    near = D(m=corridor_m)
    secs_per_fraction = F("route_length_m") * 3.6 / F("speed_kmh")
    t_p = _interval(F("frac_p") * secs_per_fraction)
    t_d = _interval(F("frac_d") * secs_per_fraction)
    qs = (
        BaselineTrip.objects.filter(
            status__in=MATCHABLE_TRIP_STATUSES,
            courier__courier_profile__verification_status="verified",
            max_size_class__in=_sizes_up_from(parcel.size_class),
            max_weight_grams__gte=F("reserved_weight_grams") + parcel.weight_grams,
            max_parcels__gt=F("reserved_parcels"),
        )
        .exclude(courier_id=parcel.shipper_id)
        .filter(route_geog__dwithin=(pickup, near))
        .filter(route_geog__dwithin=(dropoff, near))
        .annotate(frac_p=LineLocatePoint("route", pickup), frac_d=LineLocatePoint("route", dropoff))
        .filter(frac_p__lt=F("frac_d"))
        .annotate(
            dep_lo=Greatest(
                F("departure_earliest"),
                Value(parcel.pickup_window_start) - t_p,
                Value(parcel.delivery_window_start) - t_d,
            ),
            dep_hi=Least(
                F("departure_latest"),
                Value(parcel.pickup_window_end) - t_p,
                Value(parcel.delivery_window_end) - t_d,
            ),
        )
        .filter(dep_lo__lte=F("dep_hi"))
        .annotate(
            detour=Distance("route_geog", pickup) + Distance("route_geog", dropoff),
            dropoff_at=F("dep_lo") + t_d,
        )
        .order_by("detour", "dropoff_at", "id")
        .values_list("id", flat=True)
    )
    return list(qs[:limit])


def baseline_parcels_for_trip(trip: Trip, *, limit: int = 50) -> list[int]:
    """Ids of the open parcels that fit the trip, best first, the plain GeoDjango way."""
    if trip.status not in MATCHABLE_TRIP_STATUSES or trip.free_parcels < 1:
        return []
    if trip.courier.courier_profile.verification_status != "verified":
        return []
    route = trip.route
    near = D(m=trip.corridor_m)
    secs_per_fraction = trip.route_length_m * 3.6 / trip.speed_kmh
    t_p = _interval(F("frac_p") * secs_per_fraction)
    t_d = _interval(F("frac_d") * secs_per_fraction)
    qs = (
        BaselineParcel.objects.filter(
            status="open",
            size_class__in=[
                s
                for s in SizeClass.values
                if SizeClass.rank(s) <= SizeClass.rank(trip.max_size_class)
            ],
            weight_grams__lte=trip.free_weight_grams,
        )
        .exclude(shipper_id=trip.courier_id)
        .filter(pickup_geog__dwithin=(route, near))
        .filter(dropoff_geog__dwithin=(route, near))
        .annotate(
            frac_p=LineLocatePoint(route, "pickup_point"),
            frac_d=LineLocatePoint(route, "dropoff_point"),
        )
        .filter(frac_p__lt=F("frac_d"))
        .annotate(
            dep_lo=Greatest(
                Value(trip.departure_earliest),
                F("pickup_window_start") - t_p,
                F("delivery_window_start") - t_d,
            ),
            dep_hi=Least(
                Value(trip.departure_latest),
                F("pickup_window_end") - t_p,
                F("delivery_window_end") - t_d,
            ),
        )
        .filter(dep_lo__lte=F("dep_hi"))
        .annotate(
            detour=Distance("pickup_geog", route) + Distance("dropoff_geog", route),
            dropoff_at=F("dep_lo") + t_d,
        )
        .order_by("detour", "dropoff_at", "id")
        .values_list("id", flat=True)
    )
    return list(qs[:limit])
