"""Couriers with trips and parcels that fit them, offers and deliveries made through the
services, and a snapshot of every matching and delivery row to prove a refused request changed
nothing.

The fixed set-up: verified bike couriers (corridor 1 km, 15 km/h) on the Berlin commute
Alexanderplatz -> Potsdamer Platz -> Charlottenburg (~7.7 km, ~31 min), leaving now+1h..now+2h;
the parcel goes Alexanderplatz -> Charlottenburg, pickup now+1h..now+3h, delivery now+2h..now+6h.
Any departure from about now+1h30 on brings the courier past both in time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from marketplace.accounts.models import CourierProfile, User
from marketplace.deliveries.models import Delivery, DeliveryEvent, Rating
from marketplace.lifecycle.delivering import (
    delivery_confirm_delivered,
    delivery_confirm_pickup,
    delivery_fail,
    delivery_start_transit,
)
from marketplace.lifecycle.matching import offer_accept
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelEvent
from marketplace.trips.models import Trip, TripEvent
from tests.factories.accounts import PASSWORD, CourierFactory, ShipperFactory
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip

OFFERS = "/api/v1/courier/offers/"
DELIVERIES = "/api/v1/courier/deliveries/"
PARCELS = "/api/v1/parcels/"
TRIPS = "/api/v1/trips/"

# What a courier must not see of a parcel before it is assigned to them.
PRIVATE_PARCEL_KEYS = frozenset(
    {
        "pickup_point",
        "dropoff_point",
        "pickup_address",
        "dropoff_address",
        "pickup_contact_name",
        "pickup_contact_phone",
        "dropoff_contact_name",
        "dropoff_contact_phone",
        "declared_value",
        "photo",
        "shipper",
        "price_total",
        "platform_fee",
    }
)
CODE_KEYS = frozenset({"pickup_code", "delivery_code"})


def client_for(user: User) -> APIClient:
    """A client authenticated as the user as stored now (a request loads its user afresh, so a
    test that changed the user's profile must not authenticate with a stale instance)."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def jwt_client_for(user: User) -> APIClient:
    """A client that logs in as a real app does: a bearer token from the token endpoint."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def courier_with_trip(**trip_overrides: Any) -> tuple[User, Trip]:
    """A verified bike courier and their planned trip along the commute."""
    courier = CourierFactory()
    return courier, make_trip(courier=courier, **trip_overrides)


def offer_of(*, courier: User, parcel: Parcel) -> Offer:
    return Offer.objects.get(courier=courier, parcel=parcel)


def url(base: str, obj: Any, action: str = "") -> str:
    pk = obj if isinstance(obj, int) else obj.pk
    return f"{base}{pk}/" + (f"{action}/" if action else "")


@dataclass
class Assigned:
    """A parcel accepted by a courier on their trip: the delivery is `assigned`."""

    shipper: User
    courier: User
    trip: Trip
    parcel: Parcel
    delivery: Delivery

    def refresh(self) -> Assigned:
        for obj in (self.trip, self.parcel, self.delivery):
            obj.refresh_from_db()
        return self

    @property
    def pickup_code(self) -> str:
        return Delivery.objects.get(pk=self.delivery.pk).pickup_code

    @property
    def delivery_code(self) -> str:
        return Delivery.objects.get(pk=self.delivery.pk).delivery_code


def assigned_delivery(
    *,
    courier: User | None = None,
    trip: Trip | None = None,
    shipper: User | None = None,
    **parcel_overrides: Any,
) -> Assigned:
    """Post a parcel, offer it and have the courier accept it, all through the services."""
    if trip is None:
        trip = make_trip(courier=courier or CourierFactory())
    courier = trip.courier
    shipper = shipper or ShipperFactory()
    parcel = make_parcel(shipper=shipper, **parcel_overrides)
    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    assert any(o.courier_id == courier.pk for o in offers), "the parcel does not fit the trip"
    delivery = offer_accept(offer_id=offer_of(courier=courier, parcel=parcel).pk, courier=courier)
    return Assigned(shipper, courier, trip, parcel, delivery).refresh()


def picked_up(assigned: Assigned) -> Assigned:
    delivery_confirm_pickup(
        delivery=assigned.delivery, actor=assigned.courier, code=assigned.pickup_code
    )
    return assigned.refresh()


def in_transit(assigned: Assigned) -> Assigned:
    picked_up(assigned)
    delivery_start_transit(delivery=assigned.delivery, actor=assigned.courier)
    return assigned.refresh()


def failed(assigned: Assigned) -> Assigned:
    in_transit(assigned)
    delivery_fail(delivery=assigned.delivery, actor=assigned.courier, reason="Nobody at home")
    return assigned.refresh()


def delivered(assigned: Assigned) -> Assigned:
    in_transit(assigned)
    delivery_confirm_delivered(
        delivery=assigned.delivery, actor=assigned.courier, code=assigned.delivery_code
    )
    return assigned.refresh()


def wrong(code: str) -> str:
    """A six-digit code that is not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def png(name: str = "proof.png", colour: str = "green") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


SNAPSHOT_MODELS = (
    Parcel,
    ParcelEvent,
    Trip,
    TripEvent,
    Offer,
    Delivery,
    DeliveryEvent,
    Rating,
    CourierProfile,
)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a matching or delivery request may touch."""
    return {
        model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS
    }


def pending_offer_couriers(parcel: Parcel) -> set[int]:
    return set(
        Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING).values_list(
            "courier_id", flat=True
        )
    )
