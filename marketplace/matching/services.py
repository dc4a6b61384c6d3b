"""Offers and acceptance.

Lock order (everywhere in the codebase): parcel, then trip, then offer/delivery rows. Accepting
locks the parcel row first, so when many couriers accept the same parcel at once they queue on
that lock and exactly one finds it still open.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.accounts.models import User, VerificationStatus
from marketplace.core.exceptions import ConflictError, NotAllowedError, NotFoundError
from marketplace.core.money import format_money
from marketplace.core.transactions import enqueue_on_commit
from marketplace.matching import engine
from marketplace.matching.models import Offer, OfferStatus
from marketplace.notifications.services import notify
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.parcels.services import parcel_transition, refund_on_commit
from marketplace.trips.models import Trip


def _enqueue_match_parcel(parcel_id: int) -> None:
    from marketplace.matching import tasks

    enqueue_on_commit(tasks.match_parcel, parcel_id)


def _offer_values(fit: engine.Fit, rank: int, expires_at: object) -> dict[str, object]:
    return {
        "trip_id": fit.trip_id,
        "status": OfferStatus.PENDING,
        "rank": rank,
        "detour_m": fit.detour_m,
        "pickup_position_m": fit.pickup_position_m,
        "dropoff_position_m": fit.dropoff_position_m,
        "predicted_pickup_at": fit.predicted_pickup_at,
        "predicted_dropoff_at": fit.predicted_dropoff_at,
        "expires_at": expires_at,
        "responded_at": None,
    }


def _fill_offers(parcel: Parcel, fits: list[engine.Fit]) -> list[Offer]:
    """Offer the parcel to the best-ranked couriers not yet asked, up to the configured number
    of pending offers. The caller holds the parcel's lock."""
    now = timezone.now()
    pending = Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING, expires_at__gt=now)
    slots = settings.MATCHING_OFFERS_PER_PARCEL - pending.count()
    if slots <= 0:
        return []
    asked = dict(Offer.objects.filter(parcel=parcel).values_list("courier_id", "status"))
    expires_at = now + timedelta(minutes=settings.MATCHING_OFFER_TTL_MINUTES)
    created: list[Offer] = []
    for rank, fit in enumerate(fits, start=1):
        status = asked.get(fit.courier_id)
        if status is not None and status != OfferStatus.WITHDRAWN:
            continue  # pending already, or declined/expired/cancelled: never asked twice
        offer, _ = Offer.objects.update_or_create(
            parcel=parcel, courier_id=fit.courier_id, defaults=_offer_values(fit, rank, expires_at)
        )
        asked[fit.courier_id] = OfferStatus.PENDING
        created.append(offer)
        notify(
            user=offer.courier,
            kind="offer_new",
            title="A parcel fits your trip",
            body=f"Size {parcel.size_class}, you earn "
            f"{format_money(parcel.courier_share, parcel.currency)}.",
            data={"offer_id": offer.pk, "trip_id": fit.trip_id},
        )
        if len(created) == slots:
            break
    return created


@transaction.atomic
def offers_make_for_parcel(*, parcel_id: int) -> list[Offer]:
    """Match an open parcel against trips and offer it to the best couriers."""
    parcel = Parcel.objects.select_for_update().filter(pk=parcel_id).first()
    if parcel is None or parcel.status != ParcelStatus.OPEN:
        return []
    return _fill_offers(parcel, engine.trips_for_parcel(parcel, limit=200))


@transaction.atomic
def offers_make_for_trip(*, trip_id: int) -> list[Offer]:
    """Match a trip against open parcels; offer each fitting parcel to this courier when the
    parcel still has a free offer slot and the courier has not been asked before."""
    trip = Trip.objects.select_related("courier__courier_profile").filter(pk=trip_id).first()
    if trip is None:
        return []
    fits = engine.parcels_for_trip(trip, limit=200)
    created: list[Offer] = []
    # Lock the parcels (in id order, parcel before trip) and re-check each under its lock.
    parcels = (
        Parcel.objects.select_for_update()
        .filter(pk__in=[f.parcel_id for f in fits], status=ParcelStatus.OPEN)
        .order_by("pk")
    )
    by_id = {p.pk: p for p in parcels}
    for fit in fits:
        parcel = by_id.get(fit.parcel_id)
        if parcel is not None:
            created += _fill_offers(parcel, [fit])
    return created


def offers_withdraw(*, parcel: Parcel, except_offer: Offer | None = None) -> int:
    qs = Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING)
    if except_offer is not None:
        qs = qs.exclude(pk=except_offer.pk)
    return qs.update(status=OfferStatus.WITHDRAWN, updated_at=timezone.now())


def _require_verified(courier: User) -> None:
    profile = getattr(courier, "courier_profile", None)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise NotAllowedError(
            "Only verified couriers can accept parcels. An admin reviews new couriers.",
            code="courier_not_verified",
        )


@transaction.atomic
def offer_accept(*, offer_id: int, courier: User):  # type: ignore[no-untyped-def]
    """Accept an offer: exactly one courier wins a parcel. Reserves the trip's room, withdraws
    the parcel's other offers and creates the delivery. Others get a ConflictError (409)."""
    from marketplace.deliveries.services import delivery_create

    offer = Offer.objects.filter(pk=offer_id, courier=courier).first()
    if offer is None:
        raise NotFoundError("No such offer.")
    _require_verified(courier)
    parcel = Parcel.objects.select_for_update().get(pk=offer.parcel_id)
    trip = Trip.objects.select_for_update().get(pk=offer.trip_id)
    offer = Offer.objects.select_for_update().get(pk=offer.pk)

    if offer.status == OfferStatus.ACCEPTED and hasattr(offer, "delivery"):
        return offer.delivery  # a retried accept by the winner changes nothing more
    if parcel.status != ParcelStatus.OPEN:
        raise ConflictError("Another courier has already taken this parcel.", code="parcel_taken")
    if offer.status != OfferStatus.PENDING:
        raise ConflictError(
            f"This offer is {offer.status}, not open any more.", code="offer_closed"
        )
    if offer.expires_at <= timezone.now():
        raise ConflictError("This offer has expired.", code="offer_expired")
    if trip.status not in engine.MATCHABLE_TRIP_STATUSES:
        raise ConflictError(f"The trip is {trip.status}.", code="trip_closed")
    if trip.free_parcels < 1 or trip.free_weight_grams < parcel.weight_grams:
        raise ConflictError("The trip has no room left for this parcel.", code="no_capacity")

    parcel = parcel_transition(
        parcel=parcel,
        to_status=ParcelStatus.MATCHED,
        actor=courier,
        note="Accepted by a courier",
    )
    Trip.objects.filter(pk=trip.pk).update(
        reserved_weight_grams=F("reserved_weight_grams") + parcel.weight_grams,
        reserved_parcels=F("reserved_parcels") + 1,
    )
    offer.status = OfferStatus.ACCEPTED
    offer.responded_at = timezone.now()
    offer.save(update_fields=["status", "responded_at", "updated_at"])
    offers_withdraw(parcel=parcel, except_offer=offer)
    trip.refresh_from_db()
    delivery = delivery_create(parcel=parcel, trip=trip, offer=offer)
    notify(
        user=parcel.shipper,
        kind="parcel_assigned",
        title=f"A courier is taking parcel #{parcel.pk}",
        body=f"{courier.get_short_name()} will pick it up around "
        f"{timezone.localtime(delivery.predicted_pickup_at):%H:%M}.",
        data={"parcel_id": parcel.pk, "delivery_id": delivery.pk},
    )
    return delivery


@transaction.atomic
def offer_decline(*, offer_id: int, courier: User) -> Offer:
    offer = Offer.objects.select_for_update().filter(pk=offer_id, courier=courier).first()
    if offer is None:
        raise NotFoundError("No such offer.")
    if offer.status != OfferStatus.PENDING:
        raise ConflictError(
            f"This offer is {offer.status}, not open any more.", code="offer_closed"
        )
    offer.status = OfferStatus.DECLINED
    offer.responded_at = timezone.now()
    offer.save(update_fields=["status", "responded_at", "updated_at"])
    _enqueue_match_parcel(offer.parcel_id)  # the next courier in line gets the slot
    return offer


@transaction.atomic
def offers_expire(*, now: object = None) -> int:
    """Expire pending offers past their time and offer those parcels to the next couriers."""
    now = now or timezone.now()
    stale = list(
        Offer.objects.select_for_update(skip_locked=True)
        .filter(status=OfferStatus.PENDING, expires_at__lte=now)
        .values_list("pk", "parcel_id")
    )
    if not stale:
        return 0
    Offer.objects.filter(pk__in=[pk for pk, _ in stale]).update(
        status=OfferStatus.EXPIRED, updated_at=timezone.now()
    )
    for parcel_id in sorted({parcel_id for _, parcel_id in stale}):
        _enqueue_match_parcel(parcel_id)
    return len(stale)


def parcels_expire(*, now: object = None) -> int:
    """Open parcels whose pickup window closed without a taker expire; the shipper is told."""
    now = now or timezone.now()
    count = 0
    ids = Parcel.objects.filter(status=ParcelStatus.OPEN, pickup_window_end__lte=now).values_list(
        "pk", flat=True
    )
    for parcel_id in ids:
        with transaction.atomic():
            parcel = (
                Parcel.objects.select_for_update(skip_locked=True)
                .filter(pk=parcel_id, status=ParcelStatus.OPEN)
                .first()
            )
            if parcel is None:
                continue
            offered = Offer.objects.filter(parcel=parcel).count()
            reason = (
                "No courier accepted it before the pickup window closed "
                f"({offered} courier(s) were offered it)."
                if offered
                else "No courier's trip passed the pickup and drop-off in time."
            )
            parcel_transition(
                parcel=parcel, to_status=ParcelStatus.EXPIRED, actor=None, note=reason
            )
            offers_withdraw(parcel=parcel)
            refund_on_commit(parcel)
            _notify_expired(parcel, reason)
            count += 1
    return count


def _notify_expired(parcel: Parcel, reason: str) -> None:
    notify(
        user=parcel.shipper,
        kind="parcel_expired",
        title=f"Your parcel #{parcel.pk} expired",
        body=(
            f"Your parcel '{parcel.description}' expired without a courier. Why: {reason} "
            "You can post it again with a wider pickup window."
        ),
        data={"parcel_id": parcel.pk},
    )
