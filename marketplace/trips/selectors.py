"""Reads for trips."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.accounts.models import User
from marketplace.trips.models import Trip, TripSeries


def trips_of_courier(*, courier: User) -> QuerySet[Trip]:
    return Trip.objects.filter(courier=courier).order_by("-departure_earliest")


def trip_series_of_courier(*, courier: User) -> QuerySet[TripSeries]:
    return TripSeries.objects.filter(courier=courier).order_by("-created_at")
