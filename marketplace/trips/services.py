"""Writes for trips: create (with the route), the one status transition, and the room a trip
has left. These change trips only: the matching index, offers and deliveries that follow are
`marketplace.lifecycle`'s (posting, delivering, cancelling)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.gis.geos import LineString, Point
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import VEHICLE_DEFAULTS, CourierProfile, User
from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.core.geo import haversine_m, line_length_m, straight_line
from marketplace.core.sizes import SizeClass
from marketplace.core.state_machine import check_transition
from marketplace.trips import recurrence
from marketplace.trips.models import (
    TRIP_TRANSITIONS,
    RouteSource,
    Trip,
    TripEvent,
    TripSeries,
    TripStatus,
)

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
            gettext("Only couriers can post trips. Complete your courier profile first."),
            code="not_a_courier",
        )
    return profile


Errors = dict[str, list[str]]


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _route_clean(
    errors: Errors,
    *,
    route: LineString | None,
    route_source: str | None,
    origin: Point | None,
    destination: Point | None,
) -> tuple[LineString, str, Point, Point, float]:
    """The route to store, its source, its ends and its length. Without a route, a straight line
    origin -> destination (`route_source` says so)."""
    if route is None:
        if origin is None or destination is None:
            raise ApplicationError(
                gettext("Send a route, or an origin and a destination."),
                code="invalid",
                fields={"route": [gettext("Send a route, or both origin and destination.")]},
            )
        route = straight_line(origin, destination)
        route_source = RouteSource.STRAIGHT
    else:
        route_source = route_source or RouteSource.GEOJSON
        (x0, y0), (x1, y1) = route.coords[0], route.coords[-1]
        start, end = Point(x0, y0, srid=4326), Point(x1, y1, srid=4326)
        if origin is not None and haversine_m(origin, start) > ROUTE_END_TOLERANCE_M:
            _add(
                errors,
                "origin",
                gettext("The origin is more than 1 km from the start of the route."),
            )
        if destination is not None and haversine_m(destination, end) > ROUTE_END_TOLERANCE_M:
            _add(
                errors,
                "destination",
                gettext("The destination is more than 1 km from the end of the route."),
            )
        origin = origin or start
        destination = destination or end
    length = line_length_m(route)
    if length > MAX_ROUTE_LENGTH_M:
        _add(
            errors,
            "route",
            gettext("A trip may be at most %(value)s km long.")
            % {"value": MAX_ROUTE_LENGTH_M // 1000},
        )
    return route, route_source, origin, destination, length


def _capacity_clean(
    errors: Errors,
    *,
    profile: CourierProfile,
    max_size_class: str | None,
    max_weight_grams: int | None,
    max_parcels: int,
    corridor_m: int | None,
) -> dict[str, Any]:
    """The room offered (the vehicle's defaults where not given), within what the vehicle takes."""
    size = max_size_class or profile.max_size_class
    if size not in SizeClass.values:
        _add(
            errors,
            "max_size_class",
            gettext("Unknown size class; choose one of %(join)s.")
            % {"join": ", ".join(SizeClass.values)},
        )
    elif SizeClass.rank(size) > SizeClass.rank(profile.max_size_class):
        _add(
            errors,
            "max_size_class",
            gettext("Your vehicle takes parcels up to %(max_size_class)s.")
            % {"max_size_class": profile.max_size_class},
        )
    weight = max_weight_grams or profile.max_weight_grams
    if weight <= 0 or weight > profile.max_weight_grams:
        _add(
            errors,
            "max_weight_grams",
            gettext("Your vehicle takes up to %(max_weight_grams)s g.")
            % {"max_weight_grams": profile.max_weight_grams},
        )
    if not 1 <= max_parcels <= 50:
        _add(errors, "max_parcels", gettext("A trip carries between 1 and 50 parcels."))
    corridor = corridor_m or profile.corridor_m
    if not 50 <= corridor <= 20_000:
        _add(errors, "corridor_m", gettext("The corridor must be between 50 m and 20 km."))
    return {
        "max_size_class": size,
        "max_weight_grams": weight,
        "max_parcels": max_parcels,
        "corridor_m": corridor,
    }


def _raise_if(errors: Errors, what: str = "trip") -> None:
    if errors:
        raise ApplicationError(
            gettext("The %(what)s has invalid fields.") % {"what": what},
            code="invalid",
            fields=errors,
        )


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
    series: TripSeries | None = None,
    occurrence_date: date | None = None,
) -> Trip:
    """Create a planned trip (or one occurrence of a recurring series). Without a route, a
    straight line origin -> destination is stored and `route_source` says so."""
    profile = _courier_profile(courier)
    errors: Errors = {}
    route, route_source, origin, destination, length = _route_clean(
        errors, route=route, route_source=route_source, origin=origin, destination=destination
    )
    now = timezone.now()
    departure_latest = departure_latest or departure_earliest
    if departure_latest < departure_earliest:
        _add(errors, "departure_latest", gettext("The departure window must end after it starts."))
    if departure_latest < now:
        _add(errors, "departure_latest", gettext("The departure window has already passed."))
    if departure_earliest > now + MAX_PLANNING_HORIZON:
        _add(errors, "departure_earliest", gettext("Trips can be planned at most 60 days ahead."))
    if arrival_latest is None:
        arrival_latest = departure_latest + estimated_travel(
            vehicle_type=profile.vehicle_type, distance_m=length
        )
    elif arrival_latest <= departure_earliest:
        _add(errors, "arrival_latest", gettext("The arrival must come after the departure."))
    capacity = _capacity_clean(
        errors,
        profile=profile,
        max_size_class=max_size_class,
        max_weight_grams=max_weight_grams,
        max_parcels=max_parcels,
        corridor_m=corridor_m,
    )
    _raise_if(errors)

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
        speed_kmh=VEHICLE_DEFAULTS[profile.vehicle_type]["speed_kmh"],
        series=series,
        occurrence_date=occurrence_date,
        **capacity,
    )
    note = f"Occurrence of series #{series.pk}" if series else "Created"
    TripEvent.objects.create(trip=trip, to_status=TripStatus.PLANNED, actor=courier, note=note)
    return trip


def estimated_travel(*, vehicle_type: str, distance_m: float) -> timedelta:
    """From the last departure to the latest arrival when the app sends none."""
    return ARRIVAL_SLACK * travel_time(
        vehicle_type=vehicle_type, distance_m=distance_m
    ) + timedelta(minutes=10)


def trip_lock(trip_id: int) -> Trip:
    return Trip.objects.select_for_update().get(pk=trip_id)


@transaction.atomic
def trip_transition(*, trip: Trip, to_status: str, actor: User | None, note: str = "") -> Trip:
    trip = Trip.objects.select_for_update().get(pk=trip.pk)
    if actor is not None and not actor.is_staff and trip.courier_id != actor.pk:
        raise ApplicationError(gettext("This is not your trip."), code="not_owner")
    check_transition(table=TRIP_TRANSITIONS, current=trip.status, target=to_status, label="trip")
    from_status = trip.status
    trip.status = to_status
    trip.save(update_fields=["status", "updated_at"])
    TripEvent.objects.create(
        trip=trip, from_status=from_status, to_status=to_status, actor=actor, note=note[:500]
    )
    return trip


def trip_capacity_set(*, trip: Trip, parcels: int, weight_grams: int) -> None:
    """Record the most the trip carries at once along its route (the caller holds its lock and
    computed it from the accepted deliveries: lifecycle.steps.trip_room_update). The matching
    engine offers a parcel only where this peak plus the parcel stays within the room."""
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=weight_grams, reserved_parcels=parcels
    )
    trip.reserved_weight_grams, trip.reserved_parcels = weight_grams, parcels


# --- recurring commutes -------------------------------------------------------------------------
@transaction.atomic
def trip_series_create(
    *,
    courier: User,
    time_zone: str,
    starts_on: date,
    departure_time: time,
    rrule: str = "",
    days: list[str] | None = None,
    until: date | None = None,
    departure_flex_minutes: int = 0,
    arrival_minutes: int | None = None,
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
) -> TripSeries:
    """A commute posted once: `rrule` (RFC 5545) or `days` (weekdays, MO..SU) say when, in
    `time_zone`; the occurrences are made by the lifecycle (commuting)."""
    profile = _courier_profile(courier)
    errors: Errors = {}
    route, route_source, origin, destination, _ = _route_clean(
        errors, route=route, route_source=route_source, origin=origin, destination=destination
    )
    capacity = _capacity_clean(
        errors,
        profile=profile,
        max_size_class=max_size_class,
        max_weight_grams=max_weight_grams,
        max_parcels=max_parcels,
        corridor_m=corridor_m,
    )
    try:
        recurrence.zone_of(time_zone)
    except recurrence.RecurrenceError as exc:
        _add(errors, "time_zone", str(exc))
    if bool(rrule) == bool(days):
        _add(errors, "rrule", gettext("Send either rrule or days."))
    elif until is not None and until < starts_on:
        _add(errors, "until", gettext("The last date comes before the first."))
    else:
        try:
            text = rrule or recurrence.weekly_rule(days or [])
            rrule = recurrence.rule_check(text, starts_on=starts_on, until=until)
        except recurrence.RecurrenceError as exc:
            _add(errors, "days" if days else "rrule", str(exc))
    today = timezone.now().date()
    if starts_on > today + MAX_PLANNING_HORIZON:
        _add(errors, "starts_on", gettext("A series can start at most 60 days ahead."))
    if until is not None and until < today:
        _add(errors, "until", gettext("The last date has already passed."))
    if not 0 <= departure_flex_minutes <= 720:
        _add(errors, "departure_flex_minutes", gettext("Between 0 and 720 minutes."))
    if arrival_minutes is not None and not departure_flex_minutes < arrival_minutes <= 1440:
        _add(errors, "arrival_minutes", gettext("After the departure window, at most 24 hours."))
    _raise_if(errors, "series")
    return TripSeries.objects.create(
        courier=courier,
        rrule=rrule,
        time_zone=time_zone,
        starts_on=starts_on,
        until=until,
        departure_time=departure_time,
        departure_flex_minutes=departure_flex_minutes,
        arrival_minutes=arrival_minutes,
        route=route,
        route_source=route_source,
        origin=origin,
        destination=destination,
        origin_label=origin_label,
        destination_label=destination_label,
        **capacity,
    )


def trip_series_occurrence_fields(series: TripSeries, day: date) -> dict[str, Any]:
    """What trip_create takes for the series' occurrence on local date `day`."""
    departure = recurrence.local_moment(
        day, series.departure_time, recurrence.zone_of(series.time_zone)
    )
    arrival = (
        departure + timedelta(minutes=series.arrival_minutes) if series.arrival_minutes else None
    )
    return {
        "courier": series.courier,
        "departure_earliest": departure,
        "departure_latest": departure + timedelta(minutes=series.departure_flex_minutes),
        "arrival_latest": arrival,
        "route": series.route,
        "route_source": series.route_source,
        "origin": series.origin,
        "destination": series.destination,
        "origin_label": series.origin_label,
        "destination_label": series.destination_label,
        "max_size_class": series.max_size_class,
        "max_weight_grams": series.max_weight_grams,
        "max_parcels": series.max_parcels,
        "corridor_m": series.corridor_m,
        "series": series,
        "occurrence_date": day,
    }


def trip_series_lock(series_id: int) -> TripSeries:
    return TripSeries.objects.select_for_update().get(pk=series_id)


def trip_series_stop(*, series: TripSeries) -> TripSeries:
    """No more occurrences are made (the caller holds the series' lock)."""
    if series.is_active:
        series.is_active = False
        series.save(update_fields=["is_active", "updated_at"])
    return series


# The fields an occurrence (or any planned trip) may change on its own.
TRIP_EDITABLE = (
    "departure_earliest",
    "departure_latest",
    "arrival_latest",
    "max_size_class",
    "max_weight_grams",
    "max_parcels",
    "corridor_m",
)


def trip_update(*, trip: Trip, actor: User, **changes: Any) -> Trip:
    """Change a planned trip's times or room (the caller holds its lock). Room below what
    accepted parcels take, or times moved under accepted parcels, are refused."""
    if trip.courier_id != actor.pk:
        raise ApplicationError(gettext("This is not your trip."), code="not_owner")
    if trip.status != TripStatus.PLANNED:
        raise ConflictError(gettext("Only a planned trip can be changed."), code="trip_not_planned")
    unknown = set(changes) - set(TRIP_EDITABLE)
    if unknown:
        raise ApplicationError(
            gettext("These fields cannot be changed."),
            code="invalid",
            fields={name: [gettext("Cannot be changed.")] for name in sorted(unknown)},
        )
    times = {"departure_earliest", "departure_latest", "arrival_latest"} & set(changes)
    if times and trip.reserved_parcels:
        raise ConflictError(
            gettext("Parcels are accepted on this trip: its times can no longer change."),
            code="trip_has_parcels",
        )
    profile = _courier_profile(actor)
    errors: Errors = {}
    values = {name: changes.get(name, getattr(trip, name)) for name in TRIP_EDITABLE}
    if values["departure_latest"] < values["departure_earliest"]:
        _add(errors, "departure_latest", gettext("The departure window must end after it starts."))
    if times and values["departure_latest"] < timezone.now():
        _add(errors, "departure_latest", gettext("The departure window has already passed."))
    if values["arrival_latest"] <= values["departure_latest"]:
        _add(errors, "arrival_latest", gettext("The arrival must come after the departure."))
    capacity = _capacity_clean(
        errors,
        profile=profile,
        max_size_class=values["max_size_class"],
        max_weight_grams=values["max_weight_grams"],
        max_parcels=values["max_parcels"],
        corridor_m=values["corridor_m"],
    )
    if capacity["max_weight_grams"] < trip.reserved_weight_grams:
        _add(errors, "max_weight_grams", gettext("Accepted parcels already take more than this."))
    if capacity["max_parcels"] < trip.reserved_parcels:
        _add(errors, "max_parcels", gettext("More parcels than this are already accepted."))
    _raise_if(errors)
    for name in TRIP_EDITABLE:
        setattr(trip, name, capacity.get(name, values[name]))
    trip.is_edited = trip.series_id is not None
    trip.save()
    note = "Edited: " + ", ".join(sorted(changes))
    TripEvent.objects.create(
        trip=trip, from_status=trip.status, to_status=trip.status, actor=actor, note=note[:500]
    )
    return trip
