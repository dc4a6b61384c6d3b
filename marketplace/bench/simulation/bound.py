"""The hindsight upper bound: the most parcels of the day any policy could have delivered.

Every parcel of the day is posted at its time, at the price it had then, under the batch policy
and with no batch run, so nothing is offered and no trip fills; the engine gives every trip each
one fits (all of them, not the best few). Of those fits only the ones whose courier would have
said yes in time are kept (the same draws as in the runs: `Acceptance.would_accept`). One
assignment over the whole day (`matching.assignment.solve`: most parcels, then least detour,
every trip within its room at every point of its route) then says how many could have been
served. It is a bound on every online policy: those see no more fits (a parcel cannot be
offered before it is posted or to a courier already past its pickup, and a courier who would
say no says no). It assumes a trip runs its route once: the live room check frees a delivered
parcel's stretch, so an online run can exceed it when a trip takes a parcel behind a drop-off
it already made (docs/simulation.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import time_machine
from django.test.utils import override_settings

from marketplace.bench.simulation.behaviour import Acceptance
from marketplace.bench.simulation.day import POSTING, Day
from marketplace.bench.simulation.running import SET_UP_LEAD, parcel_fields
from marketplace.bench.simulation.world import world_build
from marketplace.lifecycle.posting import parcel_create
from marketplace.matching import engine
from marketplace.matching.assignment import Candidate, Load, Room, solve
from marketplace.trips.models import Trip

ALL_FITS = 100_000


@dataclass
class Bound:
    served: int
    served_at_most: int | None
    parcels_with_a_yes: int
    fits: int
    acceptable_fits: int
    optimal: bool
    method: str
    solve_seconds: float
    seconds: float


def bound_solve(
    day: Day, *, acceptance: Acceptance, offer_ttl_minutes: float, time_limit: float
) -> Bound:
    started = time.perf_counter()
    before = day.spec.local(POSTING[0]) - SET_UP_LEAD
    candidates: list[Candidate] = []
    fits = 0
    with (
        time_machine.travel(before, tick=False) as traveller,
        override_settings(MATCHING_POLICY="batch"),
    ):
        world = world_build(day, now=before)
        for plan in day.parcels:
            traveller.move_to(plan.posted_at)  # its price (urgency) is that of its posting time
            parcel = parcel_create(shipper=world.shippers[plan.shipper], **parcel_fields(plan))
            for fit in engine.trips_for_parcel(parcel, limit=ALL_FITS):
                fits += 1
                if acceptance.would_accept(
                    parcel=plan.index,
                    trip=world.trip_keys[fit.trip_id],
                    detour_m=fit.detour_m,
                    pay_minor=parcel.courier_share,
                    ttl=offer_ttl_minutes,
                ):
                    load = Load(fit.pickup_position_m, fit.dropoff_position_m, parcel.weight_grams)
                    candidates.append(Candidate(parcel.pk, fit.trip_id, fit.detour_m, load))
    trip_ids = sorted({c.trip_id for c in candidates})
    rooms = {
        pk: Room(pk, count, weight)
        for pk, count, weight in Trip.objects.filter(pk__in=trip_ids).values_list(
            "pk", "max_parcels", "max_weight_grams"
        )
    }
    solution = solve(candidates, rooms, time_limit=time_limit) if candidates else None
    return Bound(
        served=len(solution.pairs) if solution else 0,
        served_at_most=solution.served_at_most if solution else 0,
        parcels_with_a_yes=len({c.parcel_id for c in candidates}),
        fits=fits,
        acceptable_fits=len(candidates),
        optimal=solution.optimal if solution else True,
        method=solution.method if solution else "-",
        solve_seconds=solution.seconds if solution else 0.0,
        seconds=time.perf_counter() - started,
    )
