"""Batch assignment (MATCHING_POLICY = "batch"): every MATCHING_BATCH_SECONDS the open parcels
with no pending offer and the trips they fit are assigned together (matching.assignment: most
parcels served, then least detour, with the room of every trip checked at every point of its
route), and each parcel is offered to the one courier chosen for it. A trip given several parcels
gets them as a bundle (accepted whole or one by one). A decline or an expiry leaves the parcel
open for the next batch, where that courier is not asked again.

Each run is logged with its size and times, and returns them (BatchReport).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ConflictError, NotFoundError
from marketplace.deliveries import selectors as delivery_selectors
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.matching import offer_accept, offer_decline
from marketplace.matching import engine
from marketplace.matching import selectors as matching_selectors
from marketplace.matching import services as matching
from marketplace.matching.assignment import Candidate, Load, Room, solve
from marketplace.matching.models import OfferBundle, OfferStatus
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips import services as trips
from marketplace.trips.models import Trip

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    parcels: int = 0
    resting: int = 0  # left out: no trip at a recent batch, nothing changed since
    trips: int = 0
    fits: int = 0
    assigned: int = 0
    offers: int = 0
    bundles: int = 0
    method: str = ""
    optimal: bool = True
    fit_seconds: float = 0.0
    solve_seconds: float = 0.0
    total_seconds: float = 0.0


def _cost(fit: engine.Fit, parcel: Parcel, now: datetime) -> int:
    closing = parcel.pickup_window_end - now <= timedelta(minutes=settings.MATCHING_URGENT_MINUTES)
    return fit.detour_m - (settings.MATCHING_URGENT_BONUS_M if closing else 0)


def _rooms(trip_ids: list[int], now: datetime) -> dict[int, Room]:
    carried: dict[int, list[Load]] = defaultdict(list)
    for trip_id, *load in delivery_selectors.trip_loads(trip_ids=trip_ids):
        carried[trip_id].append(Load(*load))
    for trip_id, *load in matching_selectors.pending_loads(trip_ids=trip_ids, now=now):
        carried[trip_id].append(Load(*load))
    rows = Trip.objects.filter(pk__in=trip_ids).values_list("pk", "max_parcels", "max_weight_grams")
    return {pk: Room(pk, count, weight, tuple(carried[pk])) for pk, count, weight in rows}


def _resting(waiting: list[Parcel], now: datetime) -> set[int]:
    """Parcels a batch found no trip for within MATCHING_BATCH_RECHECK_SECONDS, unchanged since
    and with no trip posted since: looking again would find none (room freed on a trip is seen
    at the recheck)."""
    since = now - timedelta(seconds=settings.MATCHING_BATCH_RECHECK_SECONDS)
    posted = matching_selectors.trips_last_posted_at()
    if posted is not None:
        since = max(since, posted)
    return matching_selectors.parcels_resting(parcel_ids=[p.pk for p in waiting], since=since)


def batch_assign(*, now: datetime | None = None) -> BatchReport:
    """One batch: gather, solve, offer (see the module). Safe to run at any time, also twice at
    once: parcels are re-checked under their locks before they are offered."""
    started = time.perf_counter()
    now = now or timezone.now()
    report = BatchReport()
    waiting = matching_selectors.parcels_awaiting_batch(
        now=now, limit=settings.MATCHING_BATCH_MAX_PARCELS
    )
    resting = _resting(waiting, now)
    waiting = [parcel for parcel in waiting if parcel.pk not in resting]
    asked = matching_selectors.couriers_asked(parcel_ids=[p.pk for p in waiting])
    fits: dict[tuple[int, int], engine.Fit] = {}
    candidates: list[Candidate] = []
    fitless: list[int] = []
    by_id = {parcel.pk: parcel for parcel in waiting}
    for parcel in waiting:
        found = 0
        for fit in engine.trips_for_parcel(parcel, limit=settings.MATCHING_BATCH_FITS_PER_PARCEL):
            if (parcel.pk, fit.courier_id) in asked or (parcel.pk, fit.trip_id) in fits:
                continue
            found += 1
            fits[parcel.pk, fit.trip_id] = fit
            load = Load(fit.pickup_position_m, fit.dropoff_position_m, parcel.weight_grams)
            candidates.append(Candidate(parcel.pk, fit.trip_id, _cost(fit, parcel, now), load))
        if not found:
            fitless.append(parcel.pk)
    matching.parcels_mark_fitless(parcel_ids=fitless, now=now)
    report.fit_seconds = time.perf_counter() - started
    trip_ids = sorted({c.trip_id for c in candidates})
    report.parcels, report.trips, report.fits = len(waiting), len(trip_ids), len(candidates)
    report.resting = len(resting)
    if candidates:
        solution = solve(
            candidates, _rooms(trip_ids, now), time_limit=settings.MATCHING_BATCH_TIME_LIMIT
        )
        report.method, report.optimal = solution.method, solution.optimal
        report.solve_seconds = solution.seconds
        report.assigned = len(solution.pairs)
        report.offers, report.bundles = _offer(solution.pairs, fits, by_id)
    report.total_seconds = time.perf_counter() - started
    log.info(
        "batch assignment: %d parcels (%d resting) x %d trips, %d fits -> %d assigned, "
        "%d offers in %d bundles (%s%s); fits %.3f s, solve %.3f s, total %.3f s",
        report.parcels,
        report.resting,
        report.trips,
        report.fits,
        report.assigned,
        report.offers,
        report.bundles,
        report.method or "nothing to solve",
        "" if report.optimal else ", not proven optimal",
        report.fit_seconds,
        report.solve_seconds,
        report.total_seconds,
    )
    return report


@transaction.atomic
def _offer(
    pairs: dict[int, int], fits: dict[tuple[int, int], engine.Fit], by_id: dict[int, Parcel]
) -> tuple[int, int]:
    """Offer each assigned parcel still open and unoffered (checked under its lock; parcels
    are locked in id order, before any trip) to its courier, a trip's several as a bundle."""
    locked = parcels.parcels_lock(sorted(pairs))
    still = {
        parcel.pk
        for parcel in locked
        if parcel.status == ParcelStatus.OPEN
        and not parcel.offers.filter(status=OfferStatus.PENDING).exists()
    }
    per_trip: dict[int, list[int]] = defaultdict(list)
    for parcel_id, trip_id in sorted(pairs.items()):
        if parcel_id in still:
            per_trip[trip_id].append(parcel_id)
    offers = bundles = 0
    for trip_id, parcel_ids in per_trip.items():
        bundle = None
        if len(parcel_ids) > 1:
            bundle = matching.bundle_create(
                trip_id=trip_id, courier_id=fits[parcel_ids[0], trip_id].courier_id
            )
            bundles += 1
        for parcel_id in parcel_ids:
            made = matching.offers_make_assigned(
                parcel=by_id[parcel_id], fit=fits[parcel_id, trip_id], bundle=bundle
            )
            offers += made is not None
    return offers, bundles


# --- bundles ------------------------------------------------------------------------------------
def bundle_of_courier(*, bundle_id: int, courier: User) -> OfferBundle:
    bundle = OfferBundle.objects.filter(pk=bundle_id, courier=courier).first()
    if bundle is None:
        raise NotFoundError(gettext("No such bundle."))
    return bundle


@transaction.atomic
def bundle_accept(*, bundle_id: int, courier: User) -> list[Delivery]:
    """Accept every pending offer of the bundle, all or nothing: if one parcel was taken or the
    room no longer holds them all, nothing is accepted (409 naming the parcel)."""
    bundle = bundle_of_courier(bundle_id=bundle_id, courier=courier)
    offers = list(bundle.offers.filter(status=OfferStatus.PENDING).order_by("parcel_id"))
    if not offers:
        raise ConflictError(
            gettext("Nothing in this bundle is open any more."), code="bundle_closed"
        )
    # Lock order: the parcels (in id order), then the trip, as offer_accept does for one.
    parcels.parcels_lock([offer.parcel_id for offer in offers])
    trips.trip_lock(bundle.trip_id)
    accepted = []
    for offer in offers:
        try:
            accepted.append(offer_accept(offer_id=offer.pk, courier=courier))
        except ConflictError as exc:
            raise ConflictError(
                gettext("Parcel #%(parcel_id)s: %(message)s Nothing in the bundle was accepted.")
                % {"parcel_id": offer.parcel_id, "message": exc.message},
                code=exc.code,
                extra={"parcel_id": offer.parcel_id},
            ) from exc
    return accepted


@transaction.atomic
def bundle_decline(*, bundle_id: int, courier: User) -> int:
    """Decline the bundle's pending offers (each parcel waits for the next batch)."""
    bundle = bundle_of_courier(bundle_id=bundle_id, courier=courier)
    pending = bundle.offers.filter(status=OfferStatus.PENDING).order_by("pk")
    declined = 0
    for offer in pending:
        offer_decline(offer_id=offer.pk, courier=courier)
        declined += 1
    return declined
