"""The matching index (route pieces) and the offers it produces."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from marketplace.core.models import TimeStampedModel


class BoxField(models.Field):
    """PostgreSQL's native `box`: unlike a PostGIS geometry, its GiST opclass can return the
    value from the index, so a probe over it can be an index-only scan."""

    description = "PostgreSQL box"

    def db_type(self, connection: object) -> str:
        return "box"


class MeasuredLineField(models.Field):
    """A PostGIS LineStringM in Web Mercator (SRID 3857), read and written in SQL only:
    GeoDjango has no M geometries."""

    description = "PostGIS geometry(LineStringM, 3857)"

    def db_type(self, connection: object) -> str:
        return "geometry(LineStringM, 3857)"


class TripRoute(models.Model):
    """A matchable trip's route as the engine measures it: its Mercator line (cut so that no step
    is longer than segments.MEASURE_STEP Mercator units) whose M at each vertex is the distance
    in metres on the spheroid from the route's start (the sum of the geodesic steps).

    The position of a point along the route is then the M of the nearest point, read with one
    interpolation instead of measuring the route up to it on the spheroid for every pair. Within
    a step M grows linearly with the Mercator distance, which over a step this short differs
    from the geodesic length by well under a centimetre at any latitude below 85 degrees.
    Rebuilt with the segments by matching.segments.trip_segments_rebuild."""

    trip = models.OneToOneField(
        "trips.Trip", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    measured = MeasuredLineField()

    def __str__(self) -> str:
        return f"Measured route of trip {self.trip_id}"


class TripSegment(models.Model):
    """A piece of a matchable trip's route (a few consecutive steps, cut in order along it), with
    - `reach_box`: the piece's bounding box grown by the trip's corridor, in Mercator units at
      the piece's latitude. A point can lie within the corridor of a point of this piece only if
      it lies inside this box;
    - `reach_diag`: the same box in the frame turned by 45 degrees, u = x + y and v = x - y
      (grown by the corridor times sqrt(2)). A point within the corridor lies in both boxes, an
      octagon: for a diagonal piece about half the area of its bounding box;
    - `active_range`: when the courier can be on this piece, from the earliest departure plus the
      time to the piece's start to the latest departure plus the time to its end (metres on the
      spheroid, as the engine measures positions), widened by a minute.
    Trip -> parcels reads a trip's pieces; parcel -> trips finds pieces through TripCell. Rows
    exist only while the trip is planned or active (see matching.segments.trip_segments_rebuild)."""

    # db_index=False: the named index below serves the foreign key (one index, not two).
    trip = models.ForeignKey(
        "trips.Trip", on_delete=models.CASCADE, related_name="segments", db_index=False
    )
    reach_box = BoxField()
    reach_diag = BoxField()
    active_range = DateTimeRangeField()

    class Meta:
        indexes = [models.Index(fields=["trip"], name="segment_trip")]

    def __str__(self) -> str:
        return f"Segment of trip {self.trip_id}"


class TripCell(models.Model):
    """A matchable trip listed under one grid cell (of about segments.CELL_M metres,
    `segments.cell_sql`) that the octagon (reach and diagonal reach) of one of its pieces
    overlaps, with the octagon and the time range around all of its pieces there, cut into
    stretches of at most segments.CELL_SPAN_MINUTES (a longer range makes several rows).

    Parcel -> trips reads one B-tree for the point's cell and the window: a contiguous,
    index-only range scan over `starts_minute` in [window start - CELL_SPAN_MINUTES, window
    end]. Every other condition (the time range meets the window, the octagon holds the point)
    is on key columns too, so the B-tree checks it on the index entry itself and hands back only
    the trips whose octagon there holds the point (docs/bench.md).

    Every column is a 4-byte integer, rounded outward: times in minutes since the Unix epoch
    (start down, end up), the bounds in Mercator units (minimum down, maximum up) of x, y,
    u = x + y and v = x - y. Rebuilt with the segments by
    matching.segments.trip_segments_rebuild."""

    # db_index=False: the named index below serves the foreign key (one index, not two).
    trip = models.ForeignKey(
        "trips.Trip", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    cell = models.IntegerField()
    starts_minute = models.IntegerField()
    ends_minute = models.IntegerField()
    reach_xmin = models.IntegerField()
    reach_xmax = models.IntegerField()
    reach_ymin = models.IntegerField()
    reach_ymax = models.IntegerField()
    reach_umin = models.IntegerField()
    reach_umax = models.IntegerField()
    reach_vmin = models.IntegerField()
    reach_vmax = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=[
                    "cell",
                    "starts_minute",
                    "ends_minute",
                    "reach_xmin",
                    "reach_xmax",
                    "reach_ymin",
                    "reach_ymax",
                    "reach_umin",
                    "reach_umax",
                    "reach_vmin",
                    "reach_vmax",
                ],
                include=["trip"],
                name="tripcell_cell_time",
            ),
            models.Index(fields=["trip"], name="tripcell_trip"),
        ]

    def __str__(self) -> str:
        return f"Cell {self.cell} of trip {self.trip_id}"


class OfferStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting for the courier")
    ACCEPTED = "accepted", gettext_lazy("Accepted")
    DECLINED = "declined", gettext_lazy("Declined")
    EXPIRED = "expired", gettext_lazy("Expired")
    WITHDRAWN = (
        "withdrawn",
        gettext_lazy("Withdrawn (taken by another courier, or the parcel changed)"),
    )
    CANCELLED = "cancelled", gettext_lazy("Accepted, then given up by the courier")


# A courier with an offer in one of these is never asked again for the same parcel.
FINAL_FOR_COURIER = frozenset({OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.CANCELLED})


class OfferBundle(TimeStampedModel):
    """Several parcels offered together for one trip by a batch assignment: their pickups and
    drop-offs interleave along the route within its room at every point. The courier accepts
    the bundle as one (all or nothing) or its offers one by one."""

    trip = models.ForeignKey("trips.Trip", on_delete=models.CASCADE, related_name="bundles")
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offer_bundles"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Bundle {self.pk} for trip {self.trip_id}"


class Offer(TimeStampedModel):
    """A parcel proposed to a courier for one of their trips, with the engine's estimates."""

    parcel = models.ForeignKey("parcels.Parcel", on_delete=models.CASCADE, related_name="offers")
    trip = models.ForeignKey("trips.Trip", on_delete=models.CASCADE, related_name="offers")
    courier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers"
    )
    status = models.CharField(
        max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING, db_index=True
    )
    rank = models.PositiveSmallIntegerField(help_text="1 = best fit when the offer was made.")
    detour_m = models.PositiveIntegerField()
    pickup_position_m = models.PositiveIntegerField()
    dropoff_position_m = models.PositiveIntegerField()
    predicted_pickup_at = models.DateTimeField()
    predicted_dropoff_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    bundle = models.ForeignKey(
        OfferBundle, null=True, blank=True, on_delete=models.SET_NULL, related_name="offers"
    )

    class Meta:
        ordering = ["parcel_id", "rank"]
        constraints = [
            # A courier is offered a parcel once; expiry/decline keeps them from being re-asked.
            models.UniqueConstraint(fields=["parcel", "courier"], name="offer_once_per_courier"),
            models.UniqueConstraint(
                fields=["parcel"],
                condition=Q(status="accepted"),
                name="offer_one_accepted_per_parcel",
            ),
        ]
        indexes = [
            models.Index(fields=["courier", "status", "expires_at"], name="offer_courier_status"),
        ]

    def __str__(self) -> str:
        return f"Offer of parcel {self.parcel_id} to trip {self.trip_id} ({self.status})"


class MatchAttempt(models.Model):
    """When matching last ran to the end for a parcel or a trip (one row each, upserted in the
    matching transaction). A parcel or trip that changed after its last attempt, or has none,
    and is still matchable had its matching task lost: `matching.sweeps` queues it again."""

    parcel = models.OneToOneField(
        "parcels.Parcel", null=True, on_delete=models.CASCADE, related_name="match_attempt"
    )
    trip = models.OneToOneField(
        "trips.Trip", null=True, on_delete=models.CASCADE, related_name="match_attempt"
    )
    attempted_at = models.DateTimeField()
    offers_made = models.PositiveIntegerField(default=0)
    # Batch assignment found no trip for this parcel at this time: the next batches leave it out
    # until MATCHING_BATCH_RECHECK_SECONDS pass, the parcel changes or a trip is posted.
    batch_fitless_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(parcel__isnull=False, trip__isnull=True)
                | Q(parcel__isnull=True, trip__isnull=False),
                name="match_attempt_parcel_xor_trip",
            )
        ]

    def __str__(self) -> str:
        what = f"parcel {self.parcel_id}" if self.parcel_id else f"trip {self.trip_id}"
        return f"Matching of {what} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
