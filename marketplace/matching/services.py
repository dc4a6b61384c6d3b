"""Offers: made from the engine's fits, withdrawn, declined, expired, and the checks of an
acceptance. These change offers only; accepting (the parcel matched, the trip's room taken, the
delivery created) and re-matching after commit are `marketplace.lifecycle.matching`'s.

Lock order (everywhere in the codebase): parcel, then trip, then offer/delivery rows. Accepting
locks the parcel row first, so when many couriers accept the same parcel at once they queue on
that lock and exactly one finds it still open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import User, VerificationStatus
from marketplace.core import metrics
from marketplace.core.exceptions import ConflictError, NotAllowedError, NotFoundError
from marketplace.core.languages import in_language_of
from marketplace.core.money import format_money
from marketplace.matching import engine
from marketplace.matching.assignment import Load, Room, room_holds
from marketplace.matching.models import MatchAttempt, Offer, OfferBundle, OfferStatus
from marketplace.notifications.services import notify
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip


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
        _notify_offer(offer, parcel, data={"offer_id": offer.pk, "trip_id": fit.trip_id})
        if len(created) == slots:
            break
    metrics.count_on_commit(metrics.OFFERS, len(created), event="made")
    return created


def batch_policy() -> bool:
    """MATCHING_POLICY = "batch": parcels wait for the next batch assignment
    (lifecycle.assigning) instead of being offered one by one as they open."""
    return settings.MATCHING_POLICY == "batch"


@transaction.atomic
def offers_make_for_parcel(*, parcel_id: int) -> list[Offer]:
    """Match an open parcel against trips and offer it to the best couriers (under the batch
    policy the next batch does, so this only records the attempt)."""
    parcel = Parcel.objects.select_for_update().filter(pk=parcel_id).first()
    if parcel is None or parcel.status != ParcelStatus.OPEN:
        return []
    if batch_policy():
        _attempt_record(parcel_id=parcel.pk, offers_made=0)
        return []
    created = _fill_offers(parcel, engine.trips_for_parcel(parcel, limit=200))
    _attempt_record(parcel_id=parcel.pk, offers_made=len(created))
    return created


@transaction.atomic
def offers_make_for_trip(*, trip_id: int) -> list[Offer]:
    """Match a trip against open parcels; offer each fitting parcel to this courier when the
    parcel still has a free offer slot and the courier has not been asked before."""
    trip = Trip.objects.select_related("courier__courier_profile").filter(pk=trip_id).first()
    if trip is None:
        return []
    if batch_policy():
        _attempt_record(trip_id=trip.pk, offers_made=0)
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
    _attempt_record(trip_id=trip.pk, offers_made=len(created))
    return created


def offers_make_assigned(
    *, parcel: Parcel, fit: engine.Fit, bundle: OfferBundle | None = None
) -> Offer | None:
    """Offer the parcel to the courier a batch assignment chose (the caller holds the parcel's
    lock and checked it is open with no pending offer). None if that courier was asked before."""
    status = Offer.objects.filter(parcel=parcel, courier_id=fit.courier_id).values_list(
        "status", flat=True
    )
    if status and status[0] != OfferStatus.WITHDRAWN:
        return None
    expires_at = timezone.now() + timedelta(minutes=settings.MATCHING_OFFER_TTL_MINUTES)
    values = {**_offer_values(fit, 1, expires_at), "bundle": bundle}
    offer, _ = Offer.objects.update_or_create(
        parcel=parcel, courier_id=fit.courier_id, defaults=values
    )
    metrics.count_on_commit(metrics.OFFERS, event="made")
    _notify_offer(
        offer,
        parcel,
        data={"offer_id": offer.pk, "trip_id": fit.trip_id, "bundle_id": bundle and bundle.pk},
    )
    return offer


def bundle_create(*, trip_id: int, courier_id: int) -> OfferBundle:
    return OfferBundle.objects.create(trip_id=trip_id, courier_id=courier_id)


def parcels_mark_fitless(*, parcel_ids: list[int], now: datetime) -> int:
    """A batch found no trip for these parcels now (matching.selectors.parcels_resting); it
    also ran matching to the end for them (the attempt)."""
    rows = MatchAttempt.objects.bulk_create(
        [MatchAttempt(parcel_id=pk, attempted_at=now, batch_fitless_at=now) for pk in parcel_ids],
        update_conflicts=True,
        unique_fields=["parcel"],
        update_fields=["attempted_at", "batch_fitless_at"],
    )
    return len(rows)


def _attempt_record(
    *, offers_made: int, parcel_id: int | None = None, trip_id: int | None = None
) -> None:
    """Matching ran to the end for this parcel or trip (in the caller's transaction: a worker
    that dies mid-task records nothing, and the sweep queues it again)."""
    field = "parcel" if parcel_id is not None else "trip"
    MatchAttempt.objects.bulk_create(
        [
            MatchAttempt(
                parcel_id=parcel_id,
                trip_id=trip_id,
                attempted_at=timezone.now(),
                offers_made=offers_made,
            )
        ],
        update_conflicts=True,
        unique_fields=[field],
        update_fields=["attempted_at", "offers_made"],
    )


def offers_withdraw(*, parcel: Parcel, except_offer: Offer | None = None) -> int:
    qs = Offer.objects.filter(parcel=parcel, status=OfferStatus.PENDING)
    if except_offer is not None:
        qs = qs.exclude(pk=except_offer.pk)
    return qs.update(status=OfferStatus.WITHDRAWN, updated_at=timezone.now())


def offers_withdraw_for_trip(*, trip: Trip) -> list[int]:
    """A trip that ends withdraws its pending offers. Returns those parcels' ids, in order, for
    the caller to offer to the next couriers."""
    pending = Offer.objects.filter(trip=trip, status=OfferStatus.PENDING)
    parcel_ids = sorted(set(pending.values_list("parcel_id", flat=True)))
    pending.update(status=OfferStatus.WITHDRAWN, updated_at=timezone.now())
    return parcel_ids


def offer_of_courier(*, offer_id: int, courier: User) -> Offer:
    offer = Offer.objects.filter(pk=offer_id, courier=courier).first()
    if offer is None:
        raise NotFoundError(gettext("No such offer."))
    return offer


def offer_lock(offer_id: int) -> Offer:
    return Offer.objects.select_for_update().get(pk=offer_id)


def courier_require_verified(courier: User) -> None:
    profile = getattr(courier, "courier_profile", None)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise NotAllowedError(
            gettext("Only verified couriers can accept parcels. An admin reviews new couriers."),
            code="courier_not_verified",
        )


def offer_load(offer: Offer, parcel: Parcel) -> Load:
    return Load(offer.pickup_position_m, offer.dropoff_position_m, parcel.weight_grams)


def offer_check_acceptable(
    *, offer: Offer, parcel: Parcel, trip: Trip, carried: Sequence[Load]
) -> None:
    """Refuse (409) an acceptance that can no longer win: the parcel taken, the offer closed or
    expired, the trip over, or no room at some point of the route between the pickup and the
    drop-off besides what the trip `carried`. The caller holds the parcel's, trip's and offer's
    locks."""
    if parcel.status != ParcelStatus.OPEN:
        raise ConflictError(
            gettext("Another courier has already taken this parcel."), code="parcel_taken"
        )
    if offer.status != OfferStatus.PENDING:
        raise ConflictError(
            gettext("This offer is %(status)s, not open any more.") % {"status": offer.status},
            code="offer_closed",
        )
    if offer.expires_at <= timezone.now():
        raise ConflictError(gettext("This offer has expired."), code="offer_expired")
    if trip.status not in engine.MATCHABLE_TRIP_STATUSES:
        raise ConflictError(
            gettext("The trip is %(status)s.") % {"status": trip.status}, code="trip_closed"
        )
    room = Room(trip.pk, trip.max_parcels, trip.max_weight_grams, tuple(carried))
    if not room_holds(room, [offer_load(offer, parcel)]):
        raise ConflictError(
            gettext("The trip has no room left for this parcel."), code="no_capacity"
        )


def offer_mark_accepted(*, offer: Offer, parcel: Parcel) -> Offer:
    """The offer won its parcel: accepted, and the parcel's other pending offers withdrawn."""
    offer.status = OfferStatus.ACCEPTED
    offer.responded_at = timezone.now()
    offer.save(update_fields=["status", "responded_at", "updated_at"])
    offers_withdraw(parcel=parcel, except_offer=offer)
    metrics.count_on_commit(metrics.OFFERS, event="accepted")
    return offer


def offer_cancel_accepted(*, offer_id: int | None) -> None:
    """The delivery made from this offer was given up: the courier is not asked again."""
    if offer_id is not None:
        Offer.objects.filter(pk=offer_id).update(status=OfferStatus.CANCELLED)


@transaction.atomic
def offer_decline(*, offer_id: int, courier: User) -> Offer:
    offer = Offer.objects.select_for_update().filter(pk=offer_id, courier=courier).first()
    if offer is None:
        raise NotFoundError(gettext("No such offer."))
    if offer.status != OfferStatus.PENDING:
        raise ConflictError(
            gettext("This offer is %(status)s, not open any more.") % {"status": offer.status},
            code="offer_closed",
        )
    offer.status = OfferStatus.DECLINED
    offer.responded_at = timezone.now()
    offer.save(update_fields=["status", "responded_at", "updated_at"])
    metrics.count_on_commit(metrics.OFFERS, event="declined")
    return offer


@transaction.atomic
def offers_expire_stale(*, now: object = None) -> tuple[int, list[int]]:
    """Expire pending offers past their time. Returns how many expired and their parcels' ids
    (sorted, once each), for the caller to offer those parcels to the next couriers."""
    now = now or timezone.now()
    stale = list(
        Offer.objects.select_for_update(skip_locked=True)
        .filter(status=OfferStatus.PENDING, expires_at__lte=now)
        .values_list("pk", "parcel_id")
    )
    if not stale:
        return 0, []
    Offer.objects.filter(pk__in=[pk for pk, _ in stale]).update(
        status=OfferStatus.EXPIRED, updated_at=timezone.now()
    )
    metrics.count_on_commit(metrics.OFFERS, len(stale), event="expired")
    return len(stale), sorted({parcel_id for _, parcel_id in stale})


def parcel_expiry_reason(*, parcel: Parcel) -> str:
    """Why an open parcel expired, in the shipper's words."""
    offered = Offer.objects.filter(parcel=parcel).count()
    if offered:
        return gettext(
            "No courier accepted it before the pickup window closed "
            "(%(count)s courier(s) were offered it)."
        ) % {"count": offered}
    return gettext("No courier's trip passed the pickup and drop-off in time.")


def _notify_offer(offer: Offer, parcel: Parcel, *, data: dict[str, Any]) -> None:
    """Tell the courier of a new offer, in their language."""
    with in_language_of(offer.courier):
        notify(
            user=offer.courier,
            kind="offer_new",
            title=gettext("A parcel fits your trip"),
            body=gettext("Size %(size)s, you earn %(share)s.")
            % {
                "size": parcel.size_class,
                "share": format_money(parcel.courier_share, parcel.currency),
            },
            data=data,
        )
