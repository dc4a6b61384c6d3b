"""Writes for trips: create (with the route), the one status transition, and the room a trip
has left. These change trips only: the matching index, offers and deliveries that follow are
`marketplace.lifecycle`'s (posting, delivering, cancelling)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.gis.geos import LineString, Point
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.accounts.models import VEHICLE_DEFAULTS, CourierProfile, User
from marketplace.core.exceptions import ApplicationError
from marketplace.core.geo import haversine_m, line_length_m, straight_line
from marketplace.core.sizes import SizeClass
from marketplace.core.state_machine import check_transition
from marketplace.trips.models import TRIP_TRANSITIONS, RouteSource, Trip, TripEvent, TripStatus

# A route's ends may sit this far from the origin/destination the courier typed.
ROUTE_END_TOLERANCE_M = 1_000
MAX_ROUTE_LENGTH_M = 500_000
MAX_PLANNING_HORIZON = timedelta(days=60)
# Slack added to the pure driving time when the app sends no arrival time.
ARRIVAL_SLACK = 1.3


def travel_time(*, vehicle_type: str, distance_m: float) -> timedelta:
    speed_kmh = VEHICLE_DEFAULTS[vehicle_type]["speed_kmh"]
    return timedelta(hours=distance_m / 1000 / speed_kmh)


def _courier_profile(courier: User) -> CourierProfile:
    profile = CourierProfile.objects.filter(user=courier).first()
    if not courier.is_courier or profile is None:
        raise ApplicationError(
            "Only couriers can post trips. Complete your courier profile first.",
            code="not_a_courier",
        )
    return profile


@transaction.atomic
def trip_create(
    *,
    courier: User,
    departure_earliest: datetime,
    departure_latest: datetime | None = None,
    arrival_latest: datetime | None = None,
    route: LineString | None = None,
    route_source: str | None = None,
    origin: Point | None = None,
    destination: Point | None = None,
    origin_label: str = "",
    destination_label: str = "",
    max_size_class: str | None = None,
    max_weight_grams: int | None = None,
    max_parcels: int = 3,
    corridor_m: int | None = None,
) -> Trip:
    """Create a planned trip. Without a route, a straight line origin -> destination is stored
    and `route_source` says so."""
    profile = _courier_profile(courier)
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if route is None:
        if origin is None or destination is None:
            raise ApplicationError(
                "Send a route, or an origin and a destination.",
                code="invalid",
                fields={"route": ["Send a route, or both origin and destination."]},
            )
        route = straight_line(origin, destination)
        route_source = RouteSource.STRAIGHT
    else:
        route_source = route_source or RouteSource.GEOJSON
        (x0, y0), (x1, y1) = route.coords[0], route.coords[-1]
        start, end = Point(x0, y0, srid=4326), Point(x1, y1, srid=4326)
        if origin is not None and haversine_m(origin, start) > ROUTE_END_TOLERANCE_M:
            add("origin", "The origin is more than 1 km from the start of the route.")
        if destination is not None and haversine_m(destination, end) > ROUTE_END_TOLERANCE_M:
            add("destination", "The destination is more than 1 km from the end of the route.")
        origin = origin or start
        destination = destination or end

    length = line_length_m(route)
    if length > MAX_ROUTE_LENGTH_M:
        add("route", f"A trip may be at most {MAX_ROUTE_LENGTH_M // 1000} km long.")

    now = timezone.now()
    departure_latest = departure_latest or departure_earliest
    if departure_latest < departure_earliest:
        add("departure_latest", "The departure window must end after it starts.")
    if departure_latest < now:
        add("departure_latest", "The departure window has already passed.")
    if departure_earliest > now + MAX_PLANNING_HORIZON:
        add("departure_earliest", "Trips can be planned at most 60 days ahead.")
    if arrival_latest is None:
        arrival_latest = (
            departure_latest
            + ARRIVAL_SLACK * travel_time(vehicle_type=profile.vehicle_type, distance_m=length)
            + timedelta(minutes=10)
        )
    elif arrival_latest <= departure_earliest:
        add("arrival_latest", "The arrival must come after the departure.")

    size = max_size_class or profile.max_size_class
    if size not in SizeClass.values:
        add("max_size_class", f"Unknown size class; choose one of {', '.join(SizeClass.values)}.")
    elif SizeClass.rank(size) > SizeClass.rank(profile.max_size_class):
        add("max_size_class", f"Your vehicle takes parcels up to {profile.max_size_class}.")
    weight = max_weight_grams or profile.max_weight_grams
    if weight <= 0 or weight > profile.max_weight_grams:
        add("max_weight_grams", f"Your vehicle takes up to {profile.max_weight_grams} g.")
    if not 1 <= max_parcels <= 50:
        add("max_parcels", "A trip carries between 1 and 50 parcels.")
    corridor = corridor_m or profile.corridor_m
    if not 50 <= corridor <= 20_000:
        add("corridor_m", "The corridor must be between 50 m and 20 km.")
    if errors:
        raise ApplicationError("The trip has invalid fields.", code="invalid", fields=errors)

    trip = Trip.objects.create(
        courier=courier,
        vehicle_type=profile.vehicle_type,
        origin=origin,
        destination=destination,
        origin_label=origin_label,
        destination_label=destination_label,
        route=route,
        route_source=route_source,
        route_length_m=round(length),
        departure_earliest=departure_earliest,
        departure_latest=departure_latest,
        arrival_latest=arrival_latest,
        max_size_class=size,
        max_weight_grams=weight,
        max_parcels=max_parcels,
        corridor_m=corridor,
        speed_kmh=VEHICLE_DEFAULTS[profile.vehicle_type]["speed_kmh"],
    )
    TripEvent.objects.create(trip=trip, to_status=TripStatus.PLANNED, actor=courier, note="Created")
    return trip


def trip_lock(trip_id: int) -> Trip:
    return Trip.objects.select_for_update().get(pk=trip_id)


@transaction.atomic
def trip_transition(*, trip: Trip, to_status: str, actor: User | None, note: str = "") -> Trip:
    trip = Trip.objects.select_for_update().get(pk=trip.pk)
    if actor is not None and not actor.is_staff and trip.courier_id != actor.pk:
        raise ApplicationError("This is not your trip.", code="not_owner")
    check_transition(table=TRIP_TRANSITIONS, current=trip.status, target=to_status, label="trip")
    from_status = trip.status
    trip.status = to_status
    trip.save(update_fields=["status", "updated_at"])
    TripEvent.objects.create(
        trip=trip, from_status=from_status, to_status=to_status, actor=actor, note=note[:500]
    )
    return trip


def trip_capacity_reserve(*, trip: Trip, weight_grams: int) -> None:
    """Take room for one parcel on the trip (the caller holds the trip's lock)."""
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=F("reserved_weight_grams") + weight_grams,
        reserved_parcels=F("reserved_parcels") + 1,
    )


def trip_capacity_release(*, trip: Trip, weight_grams: int) -> None:
    """Give back the room of a parcel that left the trip (delivered, cancelled, handed back)."""
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=F("reserved_weight_grams") - weight_grams,
        reserved_parcels=F("reserved_parcels") - 1,
    )
