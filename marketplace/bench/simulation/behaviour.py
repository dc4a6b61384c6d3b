"""How simulated couriers answer offers: the stated model `simulate_day` prints.

A courier accepts an offer with probability

    p = 1 / (1 + exp(-(base + per_pay_unit * pay - per_detour_km * detour_km)))

(a logit falling with the detour and rising with the courier's pay, in major currency units),
and answers after a delay drawn from an exponential distribution (`mean_response_minutes`);
an answer later than the offer's validity never comes (the offer expires).

Each (parcel, trip) pair draws its uniform numbers once, from the seed: a courier asked about
the same parcel on the same trip decides the same way under every policy (common random
numbers), which is also what lets the hindsight bound know who would have said yes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Acceptance:
    base: float = 0.5
    per_pay_unit: float = 0.25
    per_detour_km: float = 0.8
    mean_response_minutes: float = 5.0
    seed: int = 1

    def probability(self, *, detour_m: int, pay_minor: int) -> float:
        z = self.base + self.per_pay_unit * pay_minor / 100 - self.per_detour_km * detour_m / 1000
        return 1 / (1 + math.exp(-z))

    def _uniforms(self, parcel: int, trip: tuple[int, int]) -> tuple[float, float]:
        digest = hashlib.blake2b(f"{self.seed}:{parcel}:{trip}".encode(), digest_size=16).digest()
        a, b = int.from_bytes(digest[:8]), int.from_bytes(digest[8:])
        return a / 2**64, b / 2**64

    def decides(
        self, *, parcel: int, trip: tuple[int, int], detour_m: int, pay_minor: int
    ) -> tuple[bool, float]:
        """(accepts, minutes until the answer) for this pair."""
        u_accept, u_delay = self._uniforms(parcel, trip)
        delay = -self.mean_response_minutes * math.log(1 - u_delay)
        return u_accept < self.probability(detour_m=detour_m, pay_minor=pay_minor), delay

    def would_accept(
        self, *, parcel: int, trip: tuple[int, int], detour_m: int, pay_minor: int, ttl: float
    ) -> bool:
        """Whether an offer of this pair would be accepted in time."""
        accepts, delay = self.decides(
            parcel=parcel, trip=trip, detour_m=detour_m, pay_minor=pay_minor
        )
        return accepts and delay < ttl

    def describe(self) -> str:
        return (
            f"p(accept) = 1 / (1 + exp(-({self.base} + {self.per_pay_unit} x pay"
            f" - {self.per_detour_km} x detour_km))); answer after Exp(mean"
            f" {self.mean_response_minutes} min), none after the offer expires"
        )
