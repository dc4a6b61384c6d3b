"""Batch assignment: which open parcels go to which trips, all at once.

Given the fits the engine found (a parcel, a trip, the detour, where along the route the parcel
is picked up and dropped off) and each trip's room, choose at most one trip per parcel so that
1. as many parcels as possible are served, then
2. the total cost is least: the detour in metres, less MATCHING_URGENT_BONUS_M for a parcel whose
   pickup window is closing (so those win a contested seat at equal count),
while every trip carries at every point of its route no more parcels and no more weight than it
has room for (what it already carries or was offered counts: `Room.carried`).

This is an integer program (one 0/1 variable per fit; at most one per parcel; per trip and per
pickup point along its route, the count and the weight on board within the room), solved
exactly by HiGHS through SciPy's `milp` within a time limit. When the solver finds no solution
in time, the greedy assignment (fits by cost, each taken if it still fits) is used instead;
`Solution.method` says which. Choice and measurements: docs/matching.md, "Batch assignment".
Pure: no database here (marketplace.matching.batch feeds it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix


@dataclass(frozen=True)
class Load:
    """Something a trip carries from `pickup_m` to `dropoff_m` along its route."""

    pickup_m: int
    dropoff_m: int
    weight_grams: int


@dataclass(frozen=True)
class Candidate:
    """One fit: `parcel_id` could ride on `trip_id`."""

    parcel_id: int
    trip_id: int
    cost: int
    load: Load


@dataclass(frozen=True)
class Room:
    trip_id: int
    max_parcels: int
    max_weight_grams: int
    carried: tuple[Load, ...] = ()


@dataclass
class Solution:
    pairs: dict[int, int] = field(default_factory=dict)  # parcel id -> trip id
    method: str = "milp"  # "milp", or "greedy" when the solver found nothing in time
    optimal: bool = True
    seconds: float = 0.0
    variables: int = 0
    constraints: int = 0
    # The most parcels any assignment could serve, as proven: len(pairs) when optimal, else
    # from the solver's dual bound (None when it has none).
    served_at_most: int | None = None


def on_board(loads: Iterable[Load], at_m: int) -> list[Load]:
    """What is on board at `at_m` (picked up there or before, not yet dropped off; a parcel
    dropped off where it was picked up is on board there)."""
    return [
        load for load in loads if load.pickup_m <= at_m < max(load.dropoff_m, load.pickup_m + 1)
    ]


def peak_load(loads: Sequence[Load]) -> tuple[int, int]:
    """The most parcels and the most weight on board at once along the route."""
    parcels = weight = 0
    for at in {load.pickup_m for load in loads}:
        here = on_board(loads, at)
        parcels = max(parcels, len(here))
        weight = max(weight, sum(load.weight_grams for load in here))
    return parcels, weight


def room_holds(room: Room, loads: Sequence[Load]) -> bool:
    """Whether the trip can carry `loads` besides what it carries, at every point of its route.
    The load only grows at pickups, so checking at every pickup is checking everywhere."""
    everything = [*room.carried, *loads]
    for at in {load.pickup_m for load in everything}:
        here = on_board(everything, at)
        if len(here) > room.max_parcels:
            return False
        if sum(load.weight_grams for load in here) > room.max_weight_grams:
            return False
    return True


def greedy(candidates: Sequence[Candidate], rooms: dict[int, Room]) -> dict[int, int]:
    """Fits by cost (then parcel id), each taken if its parcel is free and its trip has room."""
    taken: dict[int, list[Load]] = defaultdict(list)
    pairs: dict[int, int] = {}
    for fit in sorted(candidates, key=lambda c: (c.cost, c.parcel_id, c.trip_id)):
        if fit.parcel_id in pairs:
            continue
        loads = [*taken[fit.trip_id], fit.load]
        if room_holds(rooms[fit.trip_id], loads):
            taken[fit.trip_id] = loads
            pairs[fit.parcel_id] = fit.trip_id
    return pairs


def _trip_rows(
    room: Room, fits: list[tuple[int, Candidate]]
) -> Iterable[tuple[list[int], list[float], float]]:
    """The trip's constraints: at each pickup point, the candidates on board (count, weight)
    within the room left by what it carries there. None when all its candidates fit at once."""
    if room_holds(room, [fit.load for _, fit in fits]):
        return
    points = {fit.load.pickup_m for _, fit in fits} | {load.pickup_m for load in room.carried}
    for at in sorted(points):
        on = {id(load) for load in on_board([fit.load for _, fit in fits], at)}
        here = [(i, fit) for i, fit in fits if id(fit.load) in on]
        if not here:
            continue
        carried = on_board(room.carried, at)
        index = [i for i, _ in here]
        yield index, [1.0] * len(here), float(room.max_parcels - len(carried))
        weights = [float(fit.load.weight_grams) for _, fit in here]
        left = room.max_weight_grams - sum(load.weight_grams for load in carried)
        yield index, weights, float(left)


def solve(
    candidates: Sequence[Candidate], rooms: dict[int, Room], *, time_limit: float = 2.0
) -> Solution:
    """The assignment serving the most parcels at the least cost (see the module)."""
    started = time.perf_counter()
    usable = [c for c in candidates if room_holds(rooms[c.trip_id], [c.load])]
    if not usable:
        return Solution(seconds=time.perf_counter() - started, served_at_most=0)
    parcels = sorted({c.parcel_id for c in usable})
    parcel_row = {parcel_id: row for row, parcel_id in enumerate(parcels)}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = [1.0] * len(parcels)
    for i, fit in enumerate(usable):
        rows.append(parcel_row[fit.parcel_id])
        cols.append(i)
        vals.append(1.0)
    by_trip: dict[int, list[tuple[int, Candidate]]] = defaultdict(list)
    for i, fit in enumerate(usable):
        by_trip[fit.trip_id].append((i, fit))
    for trip_id, fits in by_trip.items():
        for index, coefficients, bound in _trip_rows(rooms[trip_id], fits):
            row = len(upper)
            rows += [row] * len(index)
            cols += index
            vals += coefficients
            upper.append(bound)
    # One more parcel served outweighs any difference in cost: costs shifted to >= 0, and a
    # served parcel is worth more than the largest possible total cost.
    costs = np.array([c.cost for c in usable], dtype=float)
    costs -= costs.min()
    worth = (costs.max() + 1.0) * len(parcels) + 1.0
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(upper), len(usable))).tocsr()
    result = milp(
        -(worth - costs),
        constraints=LinearConstraint(matrix, -np.inf, np.array(upper)),
        integrality=np.ones(len(usable)),
        bounds=Bounds(0, 1),
        options={"time_limit": max(time_limit, 0.05), "mip_rel_gap": 0.0},
    )
    solution = Solution(variables=len(usable), constraints=len(upper), optimal=False)
    if result.x is not None:
        chosen = [fit for fit, x in zip(usable, result.x, strict=True) if x > 0.5]
        solution.pairs = {fit.parcel_id: fit.trip_id for fit in chosen}
        solution.optimal = result.status == 0
    if solution.optimal:
        solution.served_at_most = len(solution.pairs)
    elif (dual := getattr(result, "mip_dual_bound", None)) is not None and np.isfinite(dual):
        # objective = -sum((worth - cost) x) >= dual bound, and each served parcel adds at
        # least worth - max(cost) to the sum.
        least = worth - float(costs.max())
        solution.served_at_most = int(np.floor(-dual / least + 1e-6))
    if not solution.optimal:
        # Out of time: the better of the solver's best so far and the greedy assignment.
        fallback = greedy(usable, rooms)
        if result.x is None or score(fallback, usable) > score(solution.pairs, usable):
            solution.pairs, solution.method = fallback, "greedy"
    solution.seconds = time.perf_counter() - started
    return solution


def score(pairs: dict[int, int], candidates: Sequence[Candidate]) -> tuple[int, int]:
    """(parcels served, minus total cost): higher is better."""
    cost = {(c.parcel_id, c.trip_id): c.cost for c in candidates}
    return len(pairs), -sum(cost[parcel, trip] for parcel, trip in pairs.items())
