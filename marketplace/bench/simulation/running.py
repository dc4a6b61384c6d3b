"""One policy's run of the simulated day, on the real services, engine, tasks and database.

The clock (time-machine) moves in steps of `TICK`; at each step, in order:
1. the parcels posted since the last step are created and published through the lifecycle
   (under greedy, matching runs on commit and makes offers at once; Celery runs eagerly);
2. the periodic tasks that are due run: `expire_offers` (every minute), `expire_parcels`
   (every 5 minutes) and, under batch, `batch_assign` (every MATCHING_BATCH_SECONDS);
3. the couriers' answers that are due are given (`behaviour.Acceptance`): accepted through
   `offer_accept` (or `bundle_accept` when the courier takes a whole bundle), declined through
   `offer_decline`; an answer that never comes leaves the offer to expire;
4. accepted deliveries are picked up (pickup code) and delivered (delivery code) when the
   courier's trip passes the pickup and the drop-off.
The day ends when the last pickup window has closed and nothing is left to deliver.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import time_machine
from django.contrib.gis.geos import Point

from marketplace.accounts.models import VEHICLE_DEFAULTS
from marketplace.bench.simulation.behaviour import Acceptance
from marketplace.bench.simulation.day import POSTING, Day, ParcelPlan
from marketplace.bench.simulation.world import World, world_build
from marketplace.core.exceptions import ApplicationError
from marketplace.deliveries.co2 import co2_saved_grams
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.lifecycle import delivering, tasks
from marketplace.lifecycle.assigning import BatchReport, batch_assign, bundle_accept
from marketplace.lifecycle.matching import offer_accept, offer_decline
from marketplace.lifecycle.posting import parcel_create
from marketplace.matching.models import Offer
from marketplace.parcels.models import Parcel, ParcelStatus

TICK = timedelta(seconds=30)
EXPIRE_OFFERS_EVERY = timedelta(minutes=1)
EXPIRE_PARCELS_EVERY = timedelta(minutes=5)
SET_UP_LEAD = timedelta(hours=1)  # commuters post their trips this long before the first parcel


@dataclass
class Outcome:
    policy: str
    posted: int = 0
    delivered: int = 0
    expired: int = 0
    detours_m: list[int] = field(default_factory=list)
    pay_minor: int = 0
    detour_hours: float = 0.0
    co2_grams: int = 0
    offers: int = 0
    accepted: int = 0
    declined: int = 0
    unanswered: int = 0
    conflicts: int = 0
    bundles_taken: int = 0
    batches: list[BatchReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def share(self) -> float:
        return self.delivered / self.posted if self.posted else 0.0

    @property
    def mean_detour_m(self) -> float:
        return float(np.mean(self.detours_m)) if self.detours_m else 0.0

    @property
    def p95_detour_m(self) -> float:
        return float(np.percentile(self.detours_m, 95)) if self.detours_m else 0.0

    @property
    def pay_per_detour_hour(self) -> float:
        return self.pay_minor / 100 / self.detour_hours if self.detour_hours else 0.0


def parcel_fields(plan: ParcelPlan) -> dict[str, Any]:
    return {
        "description": f"Simulated parcel {plan.index}",
        "size_class": plan.size_class,
        "weight_grams": plan.weight_grams,
        "declared_value": plan.declared_value,
        "pickup_point": Point(*plan.pickup, srid=4326),
        "pickup_address": f"Pickup {plan.index}",
        "pickup_contact_name": "Sender",
        "pickup_contact_phone": "+10000000000",
        "pickup_window_start": plan.pickup_window[0],
        "pickup_window_end": plan.pickup_window[1],
        "dropoff_point": Point(*plan.dropoff, srid=4326),
        "dropoff_address": f"Drop-off {plan.index}",
        "dropoff_contact_name": "Recipient",
        "dropoff_contact_phone": "+10000000001",
        "delivery_window_start": plan.delivery_window[0],
        "delivery_window_end": plan.delivery_window[1],
        "prohibited_items_declared": True,
    }


class _Agenda:
    """Things to do at simulated times, in time order (ties in the order they were added)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def add(self, at: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (at, next(self._order), action))

    def due(self, now: datetime) -> Iterable[Callable[[], None]]:
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)


class DayRun:
    def __init__(
        self,
        day: Day,
        *,
        policy: str,
        acceptance: Acceptance,
        batch_every: timedelta,
        offer_ttl_minutes: float,
        progress: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.day, self.policy, self.acceptance = day, policy, acceptance
        self.batch_every, self.ttl = batch_every, offer_ttl_minutes
        self.progress = progress
        self.outcome = Outcome(policy=policy)
        self.agenda = _Agenda()
        self.parcel_index: dict[int, int] = {}  # parcel id -> the day's index
        self.pay: dict[int, int] = {}  # parcel id -> courier share
        self.world = World()
        self.last_offer = self.last_delivery = 0

    # --- the clock --------------------------------------------------------------------------
    def run(self) -> Outcome:
        started = time.perf_counter()
        plans = self.day.parcels
        start = (plans[0].posted_at if plans else self.day.spec.local(POSTING[0])) - SET_UP_LEAD
        last_window = max((p.pickup_window[1] for p in plans), default=start)
        with time_machine.travel(start, tick=False) as traveller:
            self.world = world_build(self.day, now=start)
            now = start
            next_plan = 0
            next_offers_expiry = next_parcels_expiry = next_batch = now
            while next_plan < len(plans) or now <= last_window or len(self.agenda):
                now += TICK
                traveller.move_to(now)
                while next_plan < len(plans) and plans[next_plan].posted_at <= now:
                    self._post(plans[next_plan])
                    next_plan += 1
                    self.progress(1)
                if now >= next_offers_expiry:
                    tasks.expire_offers()
                    next_offers_expiry = now + EXPIRE_OFFERS_EVERY
                if now >= next_parcels_expiry:
                    tasks.expire_parcels()
                    next_parcels_expiry = now + EXPIRE_PARCELS_EVERY
                if self.policy == "batch" and now >= next_batch:
                    report = batch_assign()
                    if report.parcels:
                        self.outcome.batches.append(report)
                    next_batch = now + self.batch_every
                self._new_offers(now)
                for action in self.agenda.due(now):
                    action()
                self._new_deliveries(now)
            tasks.expire_parcels()
        self._measure()
        self.outcome.seconds = time.perf_counter() - started
        return self.outcome

    def _post(self, plan: ParcelPlan) -> None:
        parcel = parcel_create(shipper=self.world.shippers[plan.shipper], **parcel_fields(plan))
        self.parcel_index[parcel.pk] = plan.index
        self.pay[parcel.pk] = parcel.courier_share
        self.outcome.posted += 1

    # --- the couriers -----------------------------------------------------------------------
    def _new_offers(self, now: datetime) -> None:
        fresh = list(
            Offer.objects.filter(pk__gt=self.last_offer)
            .order_by("pk")
            .values_list("pk", "parcel_id", "trip_id", "courier_id", "detour_m", "bundle_id")
        )
        if not fresh:
            return
        self.last_offer = fresh[-1][0]
        self.outcome.offers += len(fresh)
        by_bundle: dict[int, list[tuple[int, int, bool, float]]] = {}
        for offer_id, parcel_id, trip_id, courier_id, detour_m, bundle_id in fresh:
            accepts, delay = self.acceptance.decides(
                parcel=self.parcel_index[parcel_id],
                trip=self.world.trip_keys[trip_id],
                detour_m=detour_m,
                pay_minor=self.pay[parcel_id],
            )
            if delay >= self.ttl:
                self.outcome.unanswered += 1
                continue
            if bundle_id is not None:
                by_bundle.setdefault(bundle_id, []).append((offer_id, courier_id, accepts, delay))
                continue
            self._answer_at(now + timedelta(minutes=delay), offer_id, courier_id, accepts)
        for bundle_id, answers in by_bundle.items():
            if all(accepts for *_, accepts, _delay in answers):
                # Yes to all of it: the courier takes the bundle as one, when decided on the last.
                latest = max(delay for *_, delay in answers)
                courier_id = answers[0][1]
                self.agenda.add(
                    now + timedelta(minutes=latest),
                    partial(self._take_bundle, bundle_id, courier_id, len(answers)),
                )
            else:
                for offer_id, courier_id, accepts, delay in answers:
                    self._answer_at(now + timedelta(minutes=delay), offer_id, courier_id, accepts)

    def _answer_at(self, at: datetime, offer_id: int, courier_id: int, accepts: bool) -> None:
        self.agenda.add(at, partial(self._answer, offer_id, courier_id, accepts))

    def _answer(self, offer_id: int, courier_id: int, accepts: bool) -> None:
        courier = self.world.couriers[courier_id]
        try:
            if accepts:
                offer_accept(offer_id=offer_id, courier=courier)
                self.outcome.accepted += 1
            else:
                offer_decline(offer_id=offer_id, courier=courier)
                self.outcome.declined += 1
        except ApplicationError:
            self.outcome.conflicts += 1  # taken by another, withdrawn, expired or no room left

    def _take_bundle(self, bundle_id: int, courier_id: int, size: int) -> None:
        try:
            taken = bundle_accept(bundle_id=bundle_id, courier=self.world.couriers[courier_id])
        except ApplicationError:
            self.outcome.conflicts += size
            return
        self.outcome.accepted += len(taken)
        self.outcome.bundles_taken += 1

    # --- the trips --------------------------------------------------------------------------
    def _new_deliveries(self, now: datetime) -> None:
        fresh = list(
            Delivery.objects.filter(pk__gt=self.last_delivery)
            .order_by("pk")
            .values_list("pk", "predicted_pickup_at", "predicted_dropoff_at")
        )
        if fresh:
            self.last_delivery = fresh[-1][0]
        for delivery_id, pickup_at, dropoff_at in fresh:
            pickup_at = max(pickup_at, now)
            self.agenda.add(pickup_at, partial(self._pick_up, delivery_id))
            self.agenda.add(max(dropoff_at, pickup_at), partial(self._deliver, delivery_id))

    def _pick_up(self, delivery_id: int) -> None:
        delivery = Delivery.objects.select_related("parcel").get(pk=delivery_id)
        if delivery.status == DeliveryStatus.ASSIGNED:
            courier = self.world.couriers[delivery.courier_id]
            delivering.delivery_confirm_pickup(
                delivery=delivery, actor=courier, code=delivery.pickup_code
            )

    def _deliver(self, delivery_id: int) -> None:
        delivery = Delivery.objects.select_related("parcel").get(pk=delivery_id)
        if delivery.status != DeliveryStatus.PICKED_UP:
            return
        courier = self.world.couriers[delivery.courier_id]
        delivery = delivering.delivery_start_transit(delivery=delivery, actor=courier)
        delivering.delivery_confirm_delivered(
            delivery=Delivery.objects.select_related("parcel").get(pk=delivery_id),
            actor=courier,
            code=delivery.delivery_code,
        )

    # --- the figures ------------------------------------------------------------------------
    def _measure(self) -> None:
        out = self.outcome
        out.expired = Parcel.objects.filter(status=ParcelStatus.EXPIRED).count()
        rows = Delivery.objects.filter(status=DeliveryStatus.DELIVERED).values_list(
            "detour_m", "parcel__courier_share", "parcel__distance_m", "courier_id"
        )
        for detour_m, pay, distance_m, courier_id in rows:
            vehicle = self.world.vehicle_of_courier[courier_id]
            out.delivered += 1
            out.detours_m.append(detour_m)
            out.pay_minor += pay
            out.detour_hours += detour_m / 1000 / VEHICLE_DEFAULTS[vehicle]["speed_kmh"]
            out.co2_grams += co2_saved_grams(
                direct_distance_m=distance_m, detour_m=detour_m, vehicle_type=vehicle
            )
