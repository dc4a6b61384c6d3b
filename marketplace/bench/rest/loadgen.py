"""The load generator of `bench_api`, run as its own process (no Django in it):

    python -m marketplace.bench.rest.loadgen < spec.json > result.json

An asyncio client (aiohttp, over keep-alive connections) keeps `concurrency` requests in flight
against one target at a time, for `seconds` per phase: a warm-up phase of each target, then
`rounds` rounds that measure the targets one after the other in the given order. The load is
bounded: never more than `concurrency` requests at once, `max_requests` per phase, `timeout`
seconds per request. Each phase reports its requests, wall time, latencies, errors (a status
other than 2xx, or an exception) and the client's own CPU time, so a saturated client shows.

A target is a GET with a bearer token (workers share the tokens round robin), or "pings": each
worker is one courier (`couriers` needs one per worker) that posts batches of `batch` pings for
its delivery, never two at once, as a phone does. The pings' device times follow the wall clock
(each batch covers the time since the courier's previous one, strictly increasing), and the
position moves east along the route at COURIER_MPS from `east_m`, so every ping is plausible and
the server stores it: the answer's accepted and rejected counts are summed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

COURIER_MPS = 10.0
ACCURACY_M = 8.0


@dataclass
class Phase:
    target: str
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    accepted_pings: int = 0
    rejected_pings: Counter[str] = field(default_factory=Counter)
    checks: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "requests": self.requests,
            "seconds": self.seconds,
            "latencies_ms": self.latencies_ms,
            "errors": dict(self.errors),
            "accepted_pings": self.accepted_pings,
            "rejected_pings": dict(self.rejected_pings),
            "checks": self.checks,
            "client_cpu_s": self.client_cpu_s,
        }


@dataclass
class Courier:
    delivery_id: int
    token: str
    lon: float  # the route's west end
    lat: float
    lon_per_m: float  # degrees of longitude per metre east, at this latitude
    east_m: float  # where the pings start along the route
    first: datetime | None = None
    last: datetime | None = None

    def body(self, batch: int) -> bytes:
        now = datetime.now(UTC)
        last = self.last or now - timedelta(seconds=1)
        if self.first is None:
            self.first = last
        # Strictly later than the previous batch, at least a millisecond between two pings.
        end = max(now, last + timedelta(milliseconds=batch))
        step = (end - last) / batch
        pings = []
        for i in range(1, batch + 1):
            at = last + step * i
            east = self.east_m + COURIER_MPS * (at - self.first).total_seconds()
            pings.append(
                {
                    "lat": self.lat,
                    "lon": self.lon + east * self.lon_per_m,
                    "accuracy_m": ACCURACY_M,
                    "at": at.isoformat(timespec="microseconds"),
                    "speed_mps": COURIER_MPS,
                    "heading_deg": 90.0,
                }
            )
        self.last = end
        return json.dumps({"pings": pings}).encode()


class Load:
    def __init__(self, spec: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self.session = session
        self.base = spec["base_url"].rstrip("/")
        self.concurrency = int(spec["concurrency"])
        self.max_requests = int(spec.get("max_requests", 1_000_000))
        self.couriers = [Courier(**c) for c in spec["targets"].get("pings", {}).get("couriers", [])]

    async def phase(self, name: str, seconds: float) -> Phase:
        target = self.spec["targets"][name]
        result = Phase(target=name)
        if target.get("kind") == "pings" and len(self.couriers) < self.concurrency:
            raise SystemExit("pings: one courier per worker is needed")
        issued = 0
        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(k: int) -> None:
            nonlocal issued
            while time.perf_counter() < deadline and issued < self.max_requests:
                issued += 1
                await self._one(target, k, result, check=issued == 1)

        await asyncio.gather(*(worker(k) for k in range(self.concurrency)))
        result.seconds = time.perf_counter() - started
        result.client_cpu_s = time.process_time() - cpu
        return result

    async def _one(self, target: dict[str, Any], k: int, result: Phase, *, check: bool) -> None:
        pings = target.get("kind") == "pings"
        if pings:
            courier = self.couriers[k]
            url = f"{self.base}/api/v1/courier/deliveries/{courier.delivery_id}/pings/"
            token, data = courier.token, courier.body(int(target["batch"]))
        else:
            tokens = target["tokens"]
            url, token, data = self.base + target["path"], tokens[k % len(tokens)], None
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            async with self.session.request(
                "POST" if pings else "GET", url, data=data, headers=headers
            ) as response:
                body = await response.read()
                status = response.status
        except Exception as exc:
            result.requests += 1
            result.errors[type(exc).__name__] += 1
            return
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.requests += 1
        if not 200 <= status < 300:
            result.errors[str(status)] += 1
            return
        if pings:
            answer = json.loads(body)
            result.accepted_pings += answer["accepted"]
            result.rejected_pings.update(r["reason"] for r in answer["rejected"])
        elif check and "expect_count" in target:
            count = json.loads(body).get("count")
            if count != target["expect_count"]:
                result.checks.append(f"count {count}, expected {target['expect_count']}")


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=int(spec["concurrency"]))
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 10.0)))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        load = Load(spec, session)
        order: list[str] = spec["order"]
        warmup = [await load.phase(name, float(spec["warmup_seconds"])) for name in order]
        rounds = []
        for _ in range(int(spec["rounds"])):
            rounds.append([(await load.phase(name, float(spec["seconds"]))) for name in order])
    return {
        "warmup": [p.as_dict() for p in warmup],
        "rounds": [[p.as_dict() for p in phases] for phases in rounds],
    }


def main() -> None:
    spec = json.load(sys.stdin)
    try:
        import uvloop
    except ImportError:  # pragma: no cover (uvicorn[standard] brings it)
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
