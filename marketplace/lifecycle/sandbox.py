"""The sandbox: a merchant's test-mode deliveries (made with a test key) are never offered to
real couriers (the engine skips them); a simulated courier walks each through the real
lifecycle instead, one step every SANDBOX_STEP_SECONDS, so the merchant's test endpoints get
the same webhooks as in live mode: assigned, picked up, positions along the way, then
delivered — or, as the delivery's `sandbox_outcome` asks, failed, or failed and sent back to the
sender (the way back is itself a test parcel the simulated courier delivers, which makes the
original `returned`).

Each step reads the parcel's state under its lock and does only the next move, so a repeated or
late task changes nothing; the simulated courier is a verified courier account no one can log
in to, and its trips are not in the matching index, so real parcels are never offered to it.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.gis.geos import LineString
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import CourierProfile, User, VehicleType, VerificationStatus
from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle import delivering, returning
from marketplace.lifecycle.matching import offer_accept
from marketplace.matching import engine
from marketplace.matching import services as matching
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus, SandboxOutcome
from marketplace.tracking.models import LocationPing
from marketplace.tracking.services import pings_record
from marketplace.trips import services as trips

# A 1 x 1 transparent PNG: the simulated proof photo and signature.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
D = DeliveryStatus


def sandbox_courier() -> User:
    """The operator's simulated courier (created on first use; cannot log in)."""
    user = User.objects.filter(email=settings.SANDBOX_COURIER_EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            email=settings.SANDBOX_COURIER_EMAIL,
            password=None,
            full_name="Sandbox Courier",
            is_shipper=False,
            is_courier=True,
        )
    CourierProfile.objects.get_or_create(
        user=user,
        defaults={
            "vehicle_type": VehicleType.VAN,
            "max_size_class": "XL",
            "max_weight_grams": 1_000_000,
            "corridor_m": 1_000,
            "verification_status": VerificationStatus.VERIFIED,
            "verified_at": timezone.now(),
        },
    )
    return user


def sandbox_start(parcel: Parcel) -> None:
    """Called when a test parcel opens: the first step runs after commit."""
    if parcel.is_test:
        enqueue_on_commit(sandbox_advance, parcel.pk)


def _schedule(parcel_id: int) -> None:
    transaction.on_commit(
        lambda: sandbox_advance.apply_async((parcel_id,), countdown=settings.SANDBOX_STEP_SECONDS)
    )


@shared_task(name="marketplace.lifecycle.tasks.sandbox_advance", acks_late=True)
def sandbox_advance(parcel_id: int) -> str:
    """One step of the simulated courier for this test parcel; returns what it did."""
    with transaction.atomic():
        parcel = parcels.parcel_lock(parcel_id)
        if not parcel.is_test:
            return "not a test parcel"
        did = _step(parcel)
        if did not in ("done", "nothing to do"):
            _schedule(parcel_id)
        return did


def _step(parcel: Parcel) -> str:
    courier = sandbox_courier()
    delivery = deliveries.delivery_active(parcel)
    if parcel.status == ParcelStatus.OPEN and delivery is None:
        _assign(parcel, courier)
        return "assigned"
    if delivery is None or delivery.courier_id != courier.pk:
        return (
            "done"
            if parcel.status in (ParcelStatus.DELIVERED, ParcelStatus.RETURNED)
            else ("nothing to do")
        )
    if delivery.status == D.ASSIGNED:
        delivering.delivery_confirm_pickup(
            delivery=delivery, actor=courier, code=delivery.pickup_code
        )
        return "picked up"
    if delivery.status == D.PICKED_UP:
        delivering.delivery_start_transit(delivery=delivery, actor=courier)
        return "in transit"
    if delivery.status == D.IN_TRANSIT:
        sent = LocationPing.objects.filter(delivery=delivery).count()
        share = (sent + 1) / (settings.SANDBOX_POSITIONS + 1)
        if sent < settings.SANDBOX_POSITIONS and _ping(delivery, courier, share):
            return "position"
        if parcel.sandbox_outcome in (SandboxOutcome.FAILED, SandboxOutcome.RETURNED):
            delivering.delivery_fail(
                delivery=delivery, actor=courier, reason="Sandbox: no one home"
            )
            return "failed"
        delivering.delivery_confirm_delivered(
            delivery=delivery,
            actor=courier,
            code=delivery.delivery_code,
            photo=SimpleUploadedFile("sandbox-proof.png", PNG, content_type="image/png"),
            signature=SimpleUploadedFile("sandbox-signature.png", PNG, content_type="image/png"),
        )
        return "delivered"
    if delivery.status == D.FAILED and parcel.sandbox_outcome == SandboxOutcome.RETURNED:
        parcel_return = returning.return_send_back(
            delivery=delivery, actor=courier, reason="Sandbox: sent back"
        )
        back = parcel_return.reverse
        if back is not None:
            Parcel.objects.filter(pk=back.pk).update(merchant=parcel.merchant, is_test=True)
            sandbox_start(Parcel.objects.get(pk=back.pk))
        return "sent back"
    return "done"


def _assign(parcel: Parcel, courier: User) -> Delivery:
    """A trip of the simulated courier along the parcel's way (not in the matching index), an
    offer for it, accepted through the lifecycle as a courier would."""
    now = timezone.now()
    route = LineString([parcel.pickup_point, parcel.dropoff_point], srid=4326)
    trip = trips.trip_create(
        courier=courier,
        departure_earliest=now,
        departure_latest=now + timedelta(hours=1),
        arrival_latest=now + timedelta(hours=6),
        route=route,
        route_source="straight",
        max_parcels=50,
    )
    fit = engine.Fit(
        trip_id=trip.pk,
        parcel_id=parcel.pk,
        courier_id=courier.pk,
        pickup_position_m=0,
        dropoff_position_m=max(trip.route_length_m, 1),
        pickup_offset_m=0.0,
        dropoff_offset_m=0.0,
        predicted_pickup_at=max(parcel.pickup_window_start, now),
        predicted_dropoff_at=max(parcel.delivery_window_start, now),
    )
    offer = matching.offers_make_assigned(parcel=parcel, fit=fit)
    assert offer is not None
    return offer_accept(offer_id=offer.pk, courier=courier)


def _ping(delivery: Delivery, courier: User, share: float) -> int:
    """A position `share` of the way; how many were accepted (0 if the tracking checks, such as
    the speed limit between steps close in time, refused it: the walk then goes on)."""
    parcel = delivery.parcel
    lon = parcel.pickup_point.x + (parcel.dropoff_point.x - parcel.pickup_point.x) * share
    lat = parcel.pickup_point.y + (parcel.dropoff_point.y - parcel.pickup_point.y) * share
    ping = {"lat": lat, "lon": lon, "accuracy_m": 10, "at": timezone.now().isoformat()}
    return pings_record(delivery=delivery, courier=courier, pings=[ping]).accepted
