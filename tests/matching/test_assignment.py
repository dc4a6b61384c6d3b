"""The batch solver against brute force on small random instances, its capacity along the
route, and its fallback when out of time."""

import itertools
import random

import pytest

from marketplace.matching.assignment import (
    Candidate,
    Load,
    Room,
    greedy,
    room_holds,
    score,
    solve,
)


def brute_force(candidates, rooms):
    """Every assignment (each parcel on one of its trips, or none) that fits: the best score."""
    by_parcel = {}
    for c in candidates:
        by_parcel.setdefault(c.parcel_id, [None]).append(c)
    best = (0, 0)
    for choice in itertools.product(*by_parcel.values()):
        chosen = [c for c in choice if c is not None]
        per_trip = {}
        for c in chosen:
            per_trip.setdefault(c.trip_id, []).append(c.load)
        if all(room_holds(rooms[t], loads) for t, loads in per_trip.items()):
            best = max(best, (len(chosen), -sum(c.cost for c in chosen)))
    return best


def random_instance(rng: random.Random):
    trips = rng.randint(1, 3)
    rooms = {}
    for t in range(trips):
        carried = tuple(
            Load(a, a + rng.randint(1, 6), rng.randint(1, 4))
            for a in (rng.randint(0, 8) for _ in range(rng.randint(0, 1)))
        )
        rooms[t] = Room(t, rng.randint(1, 3), rng.randint(3, 9), carried)
    candidates = []
    for p in range(rng.randint(1, 6)):
        weight = rng.randint(1, 5)
        for t in rng.sample(range(trips), rng.randint(1, trips)):
            a = rng.randint(0, 8)
            load = Load(a, a + rng.randint(1, 6), weight)
            # Costs from a small range, so ties (and urgency bonuses, negative) happen.
            candidates.append(Candidate(p, t, rng.randint(-2, 6), load))
    return candidates, rooms


@pytest.mark.parametrize("seed", range(300))
def test_the_solver_matches_brute_force(seed):
    candidates, rooms = random_instance(random.Random(seed))
    solution = solve(candidates, rooms, time_limit=5)
    assert solution.method == "milp" and solution.optimal
    assert score(solution.pairs, candidates) == brute_force(candidates, rooms)
    assert solution.served_at_most == brute_force(candidates, rooms)[0]
    # and the answer is feasible: one trip per parcel, each trip within its room everywhere
    chosen = {(p, t) for p, t in solution.pairs.items()}
    by_trip = {}
    for c in candidates:
        if (c.parcel_id, c.trip_id) in chosen:
            by_trip.setdefault(c.trip_id, []).append(c.load)
    assert all(room_holds(rooms[t], loads) for t, loads in by_trip.items())


def test_capacity_counts_what_is_on_board_at_each_point_not_the_total():
    room = Room(1, max_parcels=1, max_weight_grams=5)
    # One seat: A (0-4) and B (5-9) never ride together, so both fit; C (3-6) overlaps both.
    a, b, c = Load(0, 4, 5), Load(5, 9, 5), Load(3, 6, 1)
    assert room_holds(room, [a, b])
    assert not room_holds(room, [a, c])
    candidates = [
        Candidate(1, 1, 10, a),
        Candidate(2, 1, 10, b),
        Candidate(3, 1, 0, c),  # cheapest, but taking it serves one parcel instead of two
    ]
    solution = solve(candidates, {1: room})
    assert solution.pairs == {1: 1, 2: 1}
    assert greedy(candidates, {1: room}) == {3: 1}  # what greedy does


def test_what_a_trip_already_carries_takes_room():
    room = Room(1, max_parcels=2, max_weight_grams=10, carried=(Load(0, 10, 8),))
    candidates = [Candidate(1, 1, 0, Load(2, 5, 3)), Candidate(2, 1, 5, Load(4, 8, 2))]
    assert solve(candidates, {1: room}).pairs == {2: 1}


def too_big_for_50_ms():
    """1 500 parcels with 10 fits each on 400 trips of 1-3 seats: more than 50 ms of solving."""
    rng = random.Random(7)
    rooms = {t: Room(t, rng.randint(1, 3), rng.randint(5_000, 20_000)) for t in range(400)}
    candidates = []
    for p in range(1_500):
        weight = rng.randint(500, 8_000)
        for t in rng.sample(range(400), 10):
            a = rng.randint(0, 10_000)
            load = Load(a, a + rng.randint(500, 8_000), weight)
            candidates.append(Candidate(p, t, rng.randint(0, 4_000), load))
    return candidates, rooms


def test_a_solver_out_of_time_falls_back_to_greedy():
    candidates, rooms = too_big_for_50_ms()
    solution = solve(candidates, rooms, time_limit=0.05)
    assert not solution.optimal
    fallback = greedy(candidates, rooms)
    assert score(solution.pairs, candidates) >= score(fallback, candidates)
    if solution.method == "greedy":
        assert solution.pairs == fallback


def test_nothing_to_assign():
    assert solve([], {}).pairs == {}
    too_heavy = [Candidate(1, 1, 0, Load(0, 5, 50))]
    assert solve(too_heavy, {1: Room(1, 3, 10)}).pairs == {}


def test_the_served_count_is_proven_when_optimal_and_bounded_when_out_of_time():
    rooms = {1: Room(1, 1, 10_000), 2: Room(2, 1, 10_000)}
    candidates = [
        Candidate(p, t, 100 * p + t, Load(0, 1_000, 500)) for p in (1, 2, 3) for t in (1, 2)
    ]
    solution = solve(candidates, rooms)
    assert solution.optimal and solution.served_at_most == len(solution.pairs) == 2

    candidates, rooms = too_big_for_50_ms()
    solution = solve(candidates, rooms, time_limit=0.05)
    assert not solution.optimal
    if solution.served_at_most is not None:  # HiGHS may stop before it has a dual bound
        assert len(solution.pairs) <= solution.served_at_most <= 1_500
