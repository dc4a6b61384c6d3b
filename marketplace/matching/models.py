"""The matching index (route pieces) and the offers it produces."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import Q

from marketplace.core.models import TimeStampedModel


class BoxField(models.Field):
    """PostgreSQL's native `box`: unlike a PostGIS geometry, its GiST opclass can return the
    value from the index, so a probe over it can be an index-only scan."""

    description = "PostgreSQL box"

    def db_type(self, connection: object) -> str:
        return "box"


class TripSegment(models.Model):
    """A piece of a matchable trip's route (a few consecutive steps, cut in order along it), with
    - `reach_box`: the piece's bounding box grown by the trip's corridor, in Mercator units at
      the piece's latitude. A point can lie within the corridor of a point of this piece only if
      it lies inside this box;
    - `active_range`: when the courier can be on this piece, from the earliest departure plus the
      time to the piece's start to the latest departure plus the time to its end (metres on the
      spheroid, as the engine measures positions), widened by a minute.
    One GiST probe over (reach_box, active_range), with trip_id included so it never reads the
    table, finds the trips that pass a point within a time window. Rows exist only while the
    trip is planned or active (see matching.segments.trip_segments_rebuild)."""

    trip = models.ForeignKey("trips.Trip", on_delete=models.CASCADE, related_name="segments")
    reach_box = BoxField()
    active_range = DateTimeRangeField()

    class Meta:
        indexes = [
            # The one index the probes use: place and time together, index-only.
            GistIndex(
                fields=["reach_box", "active_range"],
                include=["trip_id"],
                name="segment_reach_box_time_gist",
            ),
            models.Index(fields=["trip"], name="segment_trip"),
        ]

    def __str__(self) -> str:
        return f"Segment of trip {self.trip_id}"


class OfferStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the courier"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn (taken by another courier, or the parcel changed)"
    CANCELLED = "cancelled", "Accepted, then given up by the courier"


# A courier with an offer in one of these is never asked again for the same parcel.
FINAL_FOR_COURIER = frozenset({OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.CANCELLED})


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
