"""The measurements of `bench_live`, with real WebSocket clients (the `websockets` package) over
loopback: chat round trips, tracking fan-out, and the bare channel-layer round trip.

Every loop is bounded in count and in time. Redis Pub/Sub ignores the database number, so other
processes using the same Redis may publish to groups of the same name: chat messages are matched
by their unique body, and positions by a per-run marker in `accuracy_m`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets

from marketplace.bench.live.seed import PICKUP_EAST_M, LiveDelivery

CONNECT_CONCURRENCY = 20
OPEN_TIMEOUT_S = 10.0
FRAME_TIMEOUT_S = 5.0
DRAIN_SECONDS = 5.0
COURIER_MPS = 10.0  # how fast the simulated couriers move along their routes


@dataclass
class Party:
    """One delivery's four sockets (courier and shipper, chat and tracking)."""

    live: LiveDelivery
    courier_token: str
    shipper_token: str
    sockets: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatResult:
    ms: list[float]
    timeouts: int


@dataclass
class TrackResult:
    seconds: float
    sent: int
    accepted: int
    rejected: Counter[str]
    errors: Counter[str]
    delivered: int
    delivered_seconds: float  # from the first ping sent to the last position received
    per_delivery_short: int  # deliveries whose shipper got fewer positions than were accepted


def _url(base: str, delivery_id: int, kind: str, token: str) -> str:
    return f"{base}/ws/deliveries/{delivery_id}/{kind}/?token={token}"


async def _connect(url: str) -> Any:
    return await websockets.connect(url, open_timeout=OPEN_TIMEOUT_S, max_queue=None)


async def open_sockets(base: str, parties: list[Party]) -> None:
    """Open all four sockets of every party, CONNECT_CONCURRENCY handshakes at a time."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(party: Party, key: str, kind: str, token: str) -> None:
        async with gate:
            party.sockets[key] = await _connect(_url(base, party.live.delivery_id, kind, token))

    jobs = []
    for party in parties:
        jobs += [
            one(party, "courier_chat", "chat", party.courier_token),
            one(party, "shipper_chat", "chat", party.shipper_token),
            one(party, "courier_track", "track", party.courier_token),
            one(party, "shipper_track", "track", party.shipper_token),
        ]
    await asyncio.gather(*jobs)


async def close_sockets(parties: list[Party]) -> None:
    for party in parties:
        for ws in party.sockets.values():
            with contextlib.suppress(Exception):
                await ws.close()


class Readers:
    """Background readers: what the shippers receive, and draining what couriers receive."""

    def __init__(self, parties: list[Party], marker: float) -> None:
        self.marker = marker
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.positions: Counter[int] = Counter()
        self.last_position_at = 0.0  # perf_counter() when the last position arrived
        self.tasks: list[asyncio.Task[None]] = []
        for party in parties:
            delivery_id = party.live.delivery_id
            self.tasks += [
                asyncio.create_task(self._shipper_chat(party.sockets["shipper_chat"])),
                asyncio.create_task(
                    self._shipper_track(party.sockets["shipper_track"], delivery_id)
                ),
                asyncio.create_task(self._drain(party.sockets["courier_chat"])),
            ]

    async def _shipper_chat(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                waiter = (
                    self.waiting.get(frame.get("body", "")) if frame["type"] == "message" else None
                )
                if waiter is not None and not waiter.done():
                    waiter.set_result(time.perf_counter())

    async def _shipper_track(self, ws: Any, delivery_id: int) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "position" and frame.get("accuracy_m") == self.marker:
                    self.positions[delivery_id] += 1
                    self.last_position_at = time.perf_counter()

    async def _drain(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _raw in ws:
                pass

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def chat_round_trips(parties: list[Party], readers: Readers, *, messages: int) -> ChatResult:
    """One message at a time, round robin over the couriers: courier sends -> shipper receives."""
    run = random.getrandbits(32)
    result = ChatResult(ms=[], timeouts=0)
    loop = asyncio.get_running_loop()
    for index in range(messages):
        party = parties[index % len(parties)]
        # "r" before the run id: eight hex digits that happen to be all decimal would read as a
        # phone number, and chat masks those (the shipper would get "[phone hidden]").
        body = f"bench r{run:08x} message {index}"
        waiter: asyncio.Future[float] = loop.create_future()
        readers.waiting[body] = waiter
        started = time.perf_counter()
        await party.sockets["courier_chat"].send(json.dumps({"type": "message", "body": body}))
        try:
            received = await asyncio.wait_for(waiter, FRAME_TIMEOUT_S)
        except TimeoutError:
            result.timeouts += 1
        else:
            result.ms.append((received - started) * 1000)
        finally:
            readers.waiting.pop(body, None)
    return result


def _ping(party: Party, *, at: datetime, east_m: float, marker: float) -> str:
    lon, lat = party.live.along(east_m)
    return json.dumps(
        {
            "type": "ping",
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "accuracy_m": marker,
            "at": at.isoformat(),
        }
    )


async def tracking_fan_out(
    parties: list[Party], readers: Readers, *, seconds: float, max_pings: int
) -> TrackResult:
    """Every courier sends pings for `seconds` (each waits for its ack before the next), moving
    east along their route at COURIER_MPS with the device time of now; then the shippers'
    positions are counted (waiting up to DRAIN_SECONDS for the last ones). Positions per second
    are counted up to the last one received, so a slow drain does not flatter them."""
    sent = Counter[int]()
    accepted = Counter[int]()
    rejected: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    per_courier = max(1, max_pings // len(parties))
    started = time.perf_counter()
    wall_start = datetime.now(UTC)
    deadline = started + seconds

    async def courier(party: Party) -> None:
        ws = party.sockets["courier_track"]
        delivery_id = party.live.delivery_id
        last = wall_start - timedelta(seconds=1)
        while time.perf_counter() < deadline and sent[delivery_id] < per_courier:
            at = max(datetime.now(UTC), last + timedelta(milliseconds=1))
            last = at
            east_m = PICKUP_EAST_M + COURIER_MPS * (at - wall_start).total_seconds()
            await ws.send(_ping(party, at=at, east_m=east_m, marker=readers.marker))
            sent[delivery_id] += 1
            try:
                async with asyncio.timeout(FRAME_TIMEOUT_S):  # no task per frame, as wait_for
                    frame = json.loads(await ws.recv())
            except TimeoutError:
                errors["ack_timeout"] += 1
                continue
            if frame["type"] == "ack":
                accepted[delivery_id] += frame["accepted"]
                rejected.update(r["reason"] for r in frame["rejected"])
            else:
                errors[frame.get("code", frame["type"])] += 1

    await asyncio.gather(*(courier(party) for party in parties))
    elapsed = time.perf_counter() - started
    total = sum(accepted.values())
    drain_until = time.perf_counter() + DRAIN_SECONDS
    while sum(readers.positions.values()) < total and time.perf_counter() < drain_until:
        await asyncio.sleep(0.05)
    short = sum(
        1
        for party in parties
        if readers.positions[party.live.delivery_id] < accepted[party.live.delivery_id]
    )
    return TrackResult(
        seconds=elapsed,
        sent=sum(sent.values()),
        accepted=total,
        rejected=rejected,
        errors=errors,
        delivered=sum(readers.positions.values()),
        delivered_seconds=max(readers.last_position_at, started) - started,
        per_delivery_short=short,
    )


async def group_send_round_trips(redis_url: str, *, count: int, warmup: int = 20) -> list[float]:
    """The bare channels-redis round trip: group_send -> receive on a member channel, in-process,
    through the same layer class the server uses."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer(hosts=[redis_url])
    group = f"bench-live-{random.getrandbits(32):08x}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    ms: list[float] = []
    try:
        for index in range(warmup + count):
            started = time.perf_counter()
            await layer.group_send(group, {"type": "bench.echo", "n": index})
            while True:
                message = await asyncio.wait_for(layer.receive(channel), FRAME_TIMEOUT_S)
                if message.get("n") == index:
                    break
            if index >= warmup:
                ms.append((time.perf_counter() - started) * 1000)
    finally:
        await layer.group_discard(group, channel)
        await layer.flush()
    return ms
