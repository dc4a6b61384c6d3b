"""The simulated day's people and commutes, made in an emptied scratch database: couriers
(verified, with their vehicle's room) who post their two weekday commutes through the real
lifecycle (`trip_series_post`: the series, today's occurrence, its matching index), and
shipper accounts. Returns the maps from database ids back to the day's indices, which is how
the simulated couriers recognise a (parcel, trip) pair across policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.hashers import make_password
from django.contrib.gis.geos import LineString

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from marketplace.bench.matching.city import city_reset
from marketplace.bench.simulation.day import DEPARTURE_FLEX_MINUTES, Day
from marketplace.lifecycle.commuting import trip_series_post
from marketplace.trips.models import Trip

WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]
EMAIL_DOMAIN = "sim.waypost.invalid"


@dataclass
class World:
    couriers: dict[int, User] = field(default_factory=dict)  # user id -> user
    shippers: list[User] = field(default_factory=list)  # by the day's shipper index
    trip_keys: dict[int, tuple[int, int]] = field(
        default_factory=dict
    )  # trip id -> (commuter, leg)
    vehicle_of_courier: dict[int, str] = field(default_factory=dict)


def world_build(day: Day, *, now: datetime) -> World:
    city_reset()
    world = World()
    password = make_password(None)
    couriers = User.objects.bulk_create(
        User(
            email=f"commuter{c.index}@{EMAIL_DOMAIN}",
            full_name=f"Commuter {c.index}",
            password=password,
            is_courier=True,
            is_shipper=False,
        )
        for c in day.commuters
    )
    CourierProfile.objects.bulk_create(
        CourierProfile(
            user=user,
            vehicle_type=c.vehicle,
            max_size_class=c.max_size_class,
            max_weight_grams=c.max_weight_grams,
            corridor_m=c.corridor_m,
            verification_status=VerificationStatus.VERIFIED,
            verified_at=now,
        )
        for user, c in zip(couriers, day.commuters, strict=True)
    )
    world.shippers = User.objects.bulk_create(
        User(
            email=f"shipper{i}@{EMAIL_DOMAIN}",
            full_name=f"Shipper {i}",
            password=password,
            is_shipper=True,
        )
        for i in range(day.spec.shippers)
    )
    series_keys: dict[int, tuple[int, int]] = {}
    for user, c in zip(couriers, day.commuters, strict=True):
        world.couriers[user.pk] = user
        world.vehicle_of_courier[user.pk] = c.vehicle
        for leg, (route, departs) in enumerate(
            ((c.morning_route, c.morning), (c.morning_route[::-1], c.evening))
        ):
            series = trip_series_post(
                courier=user,
                time_zone=day.spec.time_zone,
                starts_on=day.spec.day,
                departure_time=departs,
                days=WEEKDAYS,
                departure_flex_minutes=DEPARTURE_FLEX_MINUTES,
                route=LineString(route, srid=4326),
                max_parcels=c.max_parcels,
                max_weight_grams=c.max_weight_grams,
                max_size_class=c.max_size_class,
                corridor_m=c.corridor_m,
            )
            series_keys[series.pk] = (c.index, leg)
    for trip_id, series_id in Trip.objects.values_list("pk", "series_id"):
        world.trip_keys[trip_id] = series_keys[series_id]
    return world
