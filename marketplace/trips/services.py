"""Writes for trips: create (with the route), start, complete, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.gis.geos import LineString, Point
from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import VEHICLE_DEFAULTS, CourierProfile, User
from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.core.geo import haversine_m, line_length_m, straight_line
from marketplace.core.sizes import SizeClass
from marketplace.core.state_machine import check_transition
from marketplace.core.transactions import enqueue_on_commit
from marketplace.matching.segments import trip_segments_rebuild
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
        start, end = Point(*route.coords[0], srid=4326), Point(*route.coords[-1], srid=4326)
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
    trip_segments_rebuild([trip.pk])
    _match_on_commit(trip)
    return trip


def _match_on_commit(trip: Trip) -> None:
    from marketplace.matching import tasks

    enqueue_on_commit(tasks.match_trip, trip.pk)


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
    if to_status in (TripStatus.CANCELLED, TripStatus.COMPLETED):
        _close_offers(trip)
    trip_segments_rebuild([trip.pk])
    return trip


def _close_offers(trip: Trip) -> None:
    """A trip that ends withdraws its pending offers; those parcels go to the next couriers."""
    from marketplace.matching import tasks
    from marketplace.matching.models import Offer, OfferStatus

    pending = Offer.objects.filter(trip=trip, status=OfferStatus.PENDING)
    parcel_ids = sorted(set(pending.values_list("parcel_id", flat=True)))
    pending.update(status=OfferStatus.WITHDRAWN, updated_at=timezone.now())
    for parcel_id in parcel_ids:
        enqueue_on_commit(tasks.match_parcel, parcel_id)


def trip_start(*, trip: Trip, actor: User) -> Trip:
    return trip_transition(trip=trip, to_status=TripStatus.ACTIVE, actor=actor, note="Started")


def _deliveries_in(trip: Trip, statuses: list[str]):  # type: ignore[no-untyped-def]
    from marketplace.deliveries.models import Delivery

    return Delivery.objects.filter(trip=trip, status__in=statuses)


@transaction.atomic
def trip_complete(*, trip: Trip, actor: User) -> Trip:
    if _deliveries_in(trip, ["assigned", "picked_up", "in_transit", "failed"]).exists():
        raise ConflictError(
            "Deliver, hand back or cancel this trip's parcels before completing it.",
            code="deliveries_open",
        )
    return trip_transition(trip=trip, to_status=TripStatus.COMPLETED, actor=actor, note="Completed")


@transaction.atomic
def trip_cancel(*, trip: Trip, actor: User, reason: str = "") -> Trip:
    """Cancel a trip. Parcels accepted but not yet picked up go back to matching (as when the
    courier cancels them one by one); a trip carrying parcels cannot be cancelled."""
    from marketplace.deliveries.services import delivery_cancel_by_courier
    from marketplace.parcels.models import Parcel

    if _deliveries_in(trip, ["picked_up", "in_transit", "failed"]).exists():
        raise ConflictError(
            "You are carrying parcels on this trip: deliver them or report failed attempts first.",
            code="carrying_parcels",
        )
    assigned = list(_deliveries_in(trip, ["assigned"]).order_by("parcel_id"))
    # Lock order: parcels, then the trip.
    list(
        Parcel.objects.select_for_update()
        .filter(pk__in=[d.parcel_id for d in assigned])
        .order_by("pk")
    )
    Trip.objects.select_for_update().get(pk=trip.pk)
    courier = trip.courier
    for delivery in assigned:
        delivery_cancel_by_courier(delivery=delivery, actor=courier, reason="trip cancelled")
    note = "Cancelled" + (f": {reason}" if reason else "")
    return trip_transition(trip=trip, to_status=TripStatus.CANCELLED, actor=actor, note=note)
