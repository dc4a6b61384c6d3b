"""Several processes, one system (issue 13, item 4): two uvicorn processes sharing one Redis
channel layer, two Celery workers and beat, on a Redis broker and then on RabbitMQ, all on the
test database (tests/operations/processes.py). Real WebSocket clients (the `websockets`
package) and HTTP requests go to either web process, as a load balancer would send them.

- A chat message sent through one process reaches a client of the other, and is stored once.
- A courier's pings sent through one process (over the socket and in a REST batch) reach the
  shipper watching on the other.
- A burst of trips, parcels and Stripe webhooks posted to both processes: each task they queue
  runs exactly once across the two workers (the workers' logs: unique ids, both workers busy)
  and each effect is in the database once (every parcel its offers, every inbox event
  processed in one attempt).
- The fault: a web process killed with SIGKILL under live sockets. Its clients are dropped,
  reconnect to the other process and, chat catching up with `?since_id=` (docs/live.md), miss
  no message and see none twice; the tracking watchers get the latest position at once.

Run with `-o log_cli=true` to see the measured figures (reconnect times, tasks per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import websockets
from django.conf import settings
from django.db.models import Count
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.bench.live.server import LiveServer
from marketplace.chat.models import Message
from marketplace.deliveries.models import Delivery
from marketplace.matching.models import MatchAttempt, Offer
from marketplace.payments.models import WebhookEvent
from marketplace.tracking.models import LocationPing
from tests.api.payloads import parcel_payload, trip_payload
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.operations.processes import (
    System,
    broker_answers,
    several_processes,
    sigterm_interrupts,
    task_log,
)
from tests.operations.waiting import wait_until
from tests.payments.stripe_fakes import event, fixture, signed, stripe_id
from tests.sockets import next_frame
from tests.tracking.helpers import minutes_ago, new_delivery, pick_up, ping, start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

BROKERS = {
    "redis": "redis://127.0.0.1:6379/11",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
PROCESS_ENV = {
    "CHAT_RATE_LIMIT": "100000",  # the kill test writes fast
    "TASK_SWEEP_SECONDS": "5",  # beat queues the sweep of lost tasks every 5 s
}
TIMEOUT = 10.0


async def next_frame_(ws: Any, kind: str) -> dict[str, Any]:
    return await next_frame(ws, kind, TIMEOUT)


TRIPS, PARCELS, STRIPE_EVENTS = 4, 60, 20
MATCH_TRIP = "marketplace.matching.tasks.match_trip"
MATCH_PARCEL = "marketplace.matching.tasks.match_parcel"
PROCESS_EVENT = "marketplace.payments.tasks.process_webhook_event"
SWEEP = "marketplace.lifecycle.tasks.sweep_lost_tasks"
log = logging.getLogger(__name__)


@pytest.fixture(scope="module", params=list(BROKERS))
def system(request: pytest.FixtureRequest, django_db_setup: None) -> Iterator[System]:
    broker_url = BROKERS[request.param]
    try:
        broker_answers(broker_url)
    except Exception as exc:  # a clear failure, not a skip: CI has both brokers
        pytest.fail(f"the {request.param} broker at {broker_url} does not answer: {exc!r}")
    started = time.monotonic()
    with (
        sigterm_interrupts(),
        several_processes(broker_url=broker_url, extra_env=PROCESS_ENV) as system,
    ):
        log.warning(
            "[%s] 2 web processes, 2 workers and beat ready in %.1f s",
            request.param,
            time.monotonic() - started,
        )
        yield system


def broker_name(system: System) -> str:
    return next(name for name, url in BROKERS.items() if url == system.broker_url)


# --- clients ------------------------------------------------------------------------------------
def token(user: Any) -> str:  # a User (factories are typed as their factory)
    return str(AccessToken.for_user(user))


def connect(server: LiveServer, path: str, bearer: str) -> Any:
    """A WebSocket to one web process, logged in with a JWT as the app does."""
    url = f"{server.ws_url}{path}?token={bearer}"
    return websockets.connect(url, open_timeout=TIMEOUT, max_queue=None)


def http(
    server: LiveServer, method: str, path: str, *, bearer: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    url = path if path.startswith("http") else f"{server.http_url}{path}"
    return requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)


def in_transit() -> Delivery:
    return start(pick_up(new_delivery()))


def chat_path(delivery: Delivery) -> str:
    return f"/ws/deliveries/{delivery.pk}/chat/"


def track_path(delivery: Delivery) -> str:
    return f"/ws/deliveries/{delivery.pk}/track/"


def messages_path(delivery: Delivery) -> str:
    return f"/api/v1/deliveries/{delivery.pk}/messages/"


# --- 1. chat -----------------------------------------------------------------------------------
def test_a_chat_message_through_one_process_reaches_a_client_of_the_other(system: System) -> None:
    # given a delivery in transit, its courier connected to process A and its shipper to B
    delivery = in_transit()
    courier, shipper = delivery.courier, delivery.parcel.shipper
    as_courier, as_shipper = token(courier), token(shipper)
    a, b = system.web

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with (
            connect(a, chat_path(delivery), as_courier) as courier_ws,
            connect(b, chat_path(delivery), as_shipper) as shipper_ws,
        ):
            # when the courier writes through A, and the shipper answers over REST through B
            await courier_ws.send(json.dumps({"type": "message", "body": "On my way, via A"}))
            echo = await next_frame_(courier_ws, "message")
            posted = await asyncio.to_thread(
                http, b, "POST", messages_path(delivery), bearer=as_shipper,
                json={"body": "Thanks, via B"},
            )  # fmt: skip
            assert posted.status_code == 201, posted.text
            on_b = [await next_frame_(shipper_ws, "message") for _ in range(2)]
            on_a = await next_frame_(courier_ws, "message")
            assert on_a["id"] == posted.json()["id"]
            return echo, on_b, on_a

    echo, on_b, on_a = asyncio.run(scenario())

    # then the shipper on B got the courier's message once, then its own; the courier on A got
    # the shipper's; each is stored once
    stored = list(
        Message.objects.filter(conversation__delivery=delivery)
        .order_by("id")
        .values_list("id", "sender_id", "body")
    )
    assert stored == [
        (echo["id"], courier.pk, "On my way, via A"),
        (on_a["id"], shipper.pk, "Thanks, via B"),
    ]
    assert [(f["id"], f["sender_id"], f["body"]) for f in on_b] == stored
    assert on_a["sender_role"] == "shipper" and on_b[0]["sender_role"] == "courier"


# --- 2. tracking -------------------------------------------------------------------------------
def test_a_courier_ping_through_one_process_reaches_the_shipper_on_the_other(
    system: System,
) -> None:
    # given a delivery in transit, the courier's tracking socket on A and the shipper's on B
    delivery = in_transit()
    courier, shipper = delivery.courier, delivery.parcel.shipper
    as_courier, as_shipper = token(courier), token(shipper)
    a, b = system.web
    live_ping = ping(4_000, at=minutes_ago(3))
    batch = [ping(4_300, at=minutes_ago(2)), ping(4_600, at=minutes_ago(1))]

    async def scenario() -> dict[str, Any]:
        async with (
            connect(a, track_path(delivery), as_courier) as courier_ws,
            connect(b, track_path(delivery), as_shipper) as shipper_ws,
        ):
            status = await next_frame_(shipper_ws, "status")
            # when the courier pings over the socket on A, then sends a batch over REST to A
            await courier_ws.send(json.dumps({"type": "ping", **live_ping}))
            ack = await next_frame_(courier_ws, "ack")
            first = await next_frame_(shipper_ws, "position")
            response = await asyncio.to_thread(
                http, a, "POST", f"/api/v1/courier/deliveries/{delivery.pk}/pings/",
                bearer=as_courier, json={"pings": batch},
            )  # fmt: skip
            second = await next_frame_(shipper_ws, "position")
            return {
                "status": status,
                "ack": ack,
                "first": first,
                "batch": response,
                "second": second,
            }

    frames = asyncio.run(scenario())

    # then the shipper on B saw both positions, each ping stored once
    assert frames["status"]["tracking"] is True
    assert frames["ack"] == {"type": "ack", "accepted": 1, "rejected": []}
    assert frames["batch"].status_code == 200, frames["batch"].text
    assert frames["batch"].json() == {"accepted": 2, "rejected": []}
    for frame, sent in ((frames["first"], live_ping), (frames["second"], batch[-1])):
        assert frame["lat"] == pytest.approx(sent["lat"], abs=1e-6)
        assert frame["lon"] == pytest.approx(sent["lon"], abs=1e-6)
    assert LocationPing.objects.filter(delivery=delivery).count() == 3


# --- 3. every task once across the workers -----------------------------------------------------
def transfer_event() -> dict[str, Any]:
    transfer = fixture("transfer", id=stripe_id("tr"), amount=1_234, destination=stripe_id("acct"))
    return event("transfer.created", transfer)


def post_all(system: System, requests_: list[dict[str, Any]]) -> list[requests.Response]:
    """POST each request, half to each web process, eight at a time."""

    def post(i: int) -> requests.Response:
        return http(system.web[i % len(system.web)], "POST", **requests_[i])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, range(len(requests_))))


def test_every_task_runs_once_across_the_two_workers(system: System) -> None:
    # given couriers with trips posted through both processes, their matching done
    couriers = [CourierFactory() for _ in range(TRIPS)]
    shippers = [token(ShipperFactory()) for _ in range(PARCELS // 10)]
    seen_before = {run.id for run in task_log(system.workers).received}
    started = time.monotonic()
    trips = post_all(
        system,
        [{"path": "/api/v1/trips/", "bearer": token(c), "json": trip_payload()} for c in couriers],
    )
    assert [r.status_code for r in trips] == [201] * TRIPS, trips[0].text
    wait_until(
        lambda: MatchAttempt.objects.filter(trip__isnull=False).count() == TRIPS,
        60,
        "the trips matched",
    )

    # when a burst of parcels is posted, and Stripe delivers each webhook twice, to both web
    # processes at once
    parcels = [
        {
            "path": "/api/v1/parcels/",
            "bearer": shippers[i % len(shippers)],
            "json": parcel_payload(),
        }
        for i in range(PARCELS)
    ]
    webhooks = []
    for _ in range(STRIPE_EVENTS):
        body, signature = signed(transfer_event(), secret=settings.STRIPE_WEBHOOK_SECRET)
        sent = {
            "path": "/webhooks/stripe/",
            "data": body,
            "headers": {"Stripe-Signature": signature, "Content-Type": "application/json"},
        }
        webhooks += [sent, sent]  # one to each web process
    responses = post_all(system, webhooks + parcels)  # each pair of webhooks to A and to B
    posted_in = time.monotonic() - started
    webhook_responses, parcel_responses = responses[: len(webhooks)], responses[len(webhooks) :]
    assert [r.status_code for r in parcel_responses] == [201] * PARCELS, parcel_responses[0].text
    assert [r.status_code for r in webhook_responses] == [200] * (2 * STRIPE_EVENTS)

    # then the workers match every parcel and apply every event, and go idle
    parcel_ids = {r.json()["id"] for r in parcel_responses}
    offers_each = min(settings.MATCHING_OFFERS_PER_PARCEL, TRIPS)
    done_in = wait_until(
        lambda: (
            MatchAttempt.objects.filter(parcel_id__in=parcel_ids).count() == PARCELS
            and WebhookEvent.objects.filter(processed_at__isnull=False).count() == STRIPE_EVENTS
        ),
        90,
        "every parcel matched and every event processed",
    )
    wait_until(
        lambda: system.queued() == 0 and not task_log(system.workers).unfinished(),
        30,
        "the workers idle",
    )
    everything = task_log(system.workers)  # read before beat's log: each run was sent before
    beat_sent = system.beat.log_text().count(f"Sending due task sweep-lost-tasks ({SWEEP})")
    tasks = everything.without(seen_before)

    # each effect once: every parcel its offers, none twice; every event stored and applied
    # once, the second delivery of each acknowledged as a duplicate
    offers = Offer.objects.filter(parcel_id__in=parcel_ids)
    per_parcel = dict(offers.values_list("parcel_id").annotate(n=Count("id")))
    assert per_parcel == dict.fromkeys(parcel_ids, offers_each)
    assert not offers.values("parcel_id", "courier_id").annotate(n=Count("id")).filter(n__gt=1)
    attempts = MatchAttempt.objects.filter(parcel_id__in=parcel_ids)
    assert set(attempts.values_list("offers_made", flat=True)) == {offers_each}
    events = WebhookEvent.objects.all()
    assert events.count() == STRIPE_EVENTS
    assert set(events.values_list("attempts", "last_error")) == {(1, "")}
    assert Counter(json.dumps(r.json(), sort_keys=True) for r in webhook_responses) == {
        '{"received": true}': STRIPE_EVENTS,
        '{"duplicate": true, "received": true}': STRIPE_EVENTS,
    }

    # and each task ran once: every id received once and succeeded once, none failed or
    # retried; each kind as often as it was queued, the burst shared by both workers
    ids = [run.id for run in tasks.succeeded]
    received = Counter(run.id for run in tasks.received)
    assert len(ids) == len(set(ids)), "a task ran twice"
    assert set(received.values()) == {1}, "a task was handed out twice"
    assert set(ids) <= set(received)
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {run.name for run in tasks.unfinished()} <= periodic  # beat's, sent since
    assert tasks.not_succeeded == []
    assert len(tasks.runs_of(MATCH_TRIP)) == TRIPS
    assert [run.outcome for run in tasks.runs_of(MATCH_PARCEL)] == [str(offers_each)] * PARCELS
    assert len(tasks.runs_of(PROCESS_EVENT)) == STRIPE_EVENTS
    burst = tasks.per_worker(MATCH_PARCEL) + tasks.per_worker(PROCESS_EVENT)
    assert set(burst) == {worker.name for worker in system.workers}, burst
    # beat's sweeps ran on the workers too, none more often than beat sent it
    sweeps = everything.runs_of(SWEEP)
    assert sweeps, "beat queued no sweep"
    assert len(sweeps) <= beat_sent
    log.warning(
        "[%s] %d trips, %d parcels and %d webhooks (each twice) posted in %.1f s, all run"
        " %.1f s later; tasks per worker: %s (burst: %s); %d task ids, none twice; sweeps %d",
        broker_name(system),
        TRIPS,
        PARCELS,
        STRIPE_EVENTS,
        posted_in,
        done_in,
        dict(Counter(run.worker for run in tasks.succeeded)),
        dict(burst),
        len(ids),
        len(sweeps),
    )


# --- 4. a web process killed under live sockets ------------------------------------------------
@dataclass
class Written:
    delivery_id: int
    message_id: int


@dataclass
class Watcher:
    """A shipper's client as an app keeps it: when its socket drops it waits for `resume` (the
    app's back-off; the test decides when it ends) and connects to the next server."""

    delivery: Delivery
    bearer: str
    servers: list[LiveServer]
    resume: asyncio.Event
    connected_to: list[int] = field(default_factory=list)  # ports, in order
    dropped: list[tuple[float, int | None]] = field(default_factory=list)  # (when, close code)
    ready_at: list[float] = field(default_factory=list)  # per connection, once it is usable

    path = ""

    async def run(self) -> None:
        turn = 0
        while True:
            if self.dropped:
                await self.resume.wait()
            server = self.servers[turn % len(self.servers)]
            turn += 1
            url = f"{server.ws_url}{self.path.format(self.delivery.pk)}?token={self.bearer}"
            try:
                ws = await websockets.connect(url, open_timeout=TIMEOUT, max_queue=None)
            except OSError:
                await asyncio.sleep(0.05)
                continue  # that one is down: the next
            async with ws:
                self.connected_to.append(server.port)
                await self.connected(server)
                self.ready_at.append(time.monotonic())
                try:
                    async for raw in ws:
                        self.frame(json.loads(raw))
                except websockets.ConnectionClosed:
                    pass
            self.dropped.append((time.monotonic(), ws.close_code))

    async def connected(self, server: LiveServer) -> None:
        pass

    def frame(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError


@dataclass
class ChatWatcher(Watcher):
    """The chat: after connecting, it fetches what it missed (`?since_id=` the last id it has,
    oldest first, following `next`) and drops by id what it already has (docs/live.md)."""

    path = "/ws/deliveries/{}/chat/"
    delivered: list[int] = field(default_factory=list)  # message ids, as shown to the user
    live: int = 0
    fetched: int = 0
    duplicates_dropped: int = 0

    async def connected(self, server: LiveServer) -> None:
        since = self.delivered[-1] if self.delivered else 0
        url: str | None = f"{messages_path(self.delivery)}?since_id={since}&page_size=200"
        while url:
            response = await asyncio.to_thread(http, server, "GET", url, bearer=self.bearer)
            assert response.status_code == 200, response.text
            page = response.json()
            self.fetched += sum(self._take(message["id"]) for message in page["results"])
            url = page["next"]

    def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "message":
            self.live += self._take(frame["id"])

    def _take(self, message_id: int) -> int:
        if message_id in self.delivered:
            self.duplicates_dropped += 1
            return 0
        self.delivered.append(message_id)
        return 1


@dataclass
class MapWatcher(Watcher):
    """The map: a new socket sends the latest position at once; nothing to fetch."""

    path = "/ws/deliveries/{}/track/"
    # each position received: (the connection's number, from 1; lat; lon)
    positions: list[tuple[int, float, float]] = field(default_factory=list)

    def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "position":
            self.positions.append((len(self.connected_to), frame["lat"], frame["lon"]))

    def shows(self, sent: dict[str, Any]) -> bool:
        return bool(self.positions) and same_place(self.positions[-1][1:], sent)


def same_place(lat_lon: tuple[float, float], sent: dict[str, Any]) -> bool:
    return abs(lat_lon[0] - sent["lat"]) < 1e-6 and abs(lat_lon[1] - sent["lon"]) < 1e-6


DELIVERIES = 3
BEFORE_KILL = 10  # messages each shipper has live before the kill
AWAY = 5  # rounds of messages written while the shippers are away
AFTER_RECONNECT = 10  # rounds written once every shipper is back
PACE = 0.02  # seconds between two rounds of messages


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


class Couriers:
    """The couriers' chat and tracking sockets, on the survivor: each message is written once
    and its id taken from its echo (the sender gets its own message back)."""

    def __init__(self, deliveries: list[Delivery], server: LiveServer) -> None:
        self.deliveries, self.server = deliveries, server
        self.bearers = [token(delivery.courier) for delivery in deliveries]
        self.chats: list[Any] = []
        self.tracks: list[Any] = []
        self.written: list[Written] = []
        self.rounds = 0

    async def __aenter__(self) -> Couriers:
        for delivery, bearer in zip(self.deliveries, self.bearers, strict=True):
            self.chats.append(await connect(self.server, chat_path(delivery), bearer))
            self.tracks.append(await connect(self.server, track_path(delivery), bearer))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in [*self.chats, *self.tracks]:
            await ws.close()

    async def write_round(self) -> None:
        self.rounds += 1
        for delivery, ws in zip(self.deliveries, self.chats, strict=True):
            body = f"Round {self.rounds} for parcel {delivery.parcel_id}"
            await ws.send(json.dumps({"type": "message", "body": body}))
            while (echo := await next_frame_(ws, "message"))["body"] != body:
                pass
            self.written.append(Written(delivery.pk, echo["id"]))
        await asyncio.sleep(PACE)

    async def ping(self, sent: dict[str, Any]) -> None:
        for ws in self.tracks:
            await ws.send(json.dumps({"type": "ping", **sent}))
            assert await next_frame_(ws, "ack") == {"type": "ack", "accepted": 1, "rejected": []}

    def ids_of(self, delivery: Delivery) -> list[int]:
        return [x.message_id for x in self.written if x.delivery_id == delivery.pk]


@dataclass
class KillOutcome:
    chats: list[ChatWatcher]
    maps: list[MapWatcher]
    written: list[Written]
    killed_at: float
    resumed_at: float


def test_a_web_process_killed_under_live_sockets_loses_no_message(system: System) -> None:
    # given deliveries in transit, the couriers on the survivor (B) and the shippers' chats
    # and maps on the victim, a third web process of the same system
    deliveries = [in_transit() for _ in range(DELIVERIES)]
    survivor = system.web[1]
    pings = [ping(4_000 + 200 * n, at=minutes_ago(3 - n)) for n in range(3)]

    shippers = [token(delivery.parcel.shipper) for delivery in deliveries]
    couriers = Couriers(deliveries, survivor)

    with system.web_process() as victim:

        async def scenario() -> KillOutcome:
            resume = asyncio.Event()
            servers = [victim, survivor]
            chats = [
                ChatWatcher(d, t, servers, resume)
                for d, t in zip(deliveries, shippers, strict=True)
            ]
            maps = [
                MapWatcher(d, t, servers, resume) for d, t in zip(deliveries, shippers, strict=True)
            ]
            watchers: list[Watcher] = [*chats, *maps]
            running = [asyncio.create_task(w.run()) for w in watchers]
            try:
                async with couriers:
                    await wait_for(lambda: all(w.ready_at for w in watchers), TIMEOUT, "connected")
                    # the shippers follow live
                    await couriers.ping(pings[0])
                    while min(len(w.delivered) for w in chats) < BEFORE_KILL:
                        await couriers.write_round()
                        assert couriers.rounds < 10 * BEFORE_KILL, "the shippers get nothing live"
                    await wait_for(lambda: all(m.shows(pings[0]) for m in maps), TIMEOUT, "ping")

                    # when the victim is killed with SIGKILL, and the couriers keep writing and
                    # moving while the shippers are away
                    os.kill(victim.process.pid, signal.SIGKILL)
                    killed_at = time.monotonic()
                    await wait_for(lambda: all(w.dropped for w in watchers), TIMEOUT, "dropped")
                    for _ in range(AWAY):
                        await couriers.write_round()
                    await couriers.ping(pings[1])

                    # and the shippers come back, to the survivor, while the writing goes on
                    resume.set()
                    resumed_at = time.monotonic()
                    while not all(len(w.ready_at) == 2 for w in watchers):
                        await couriers.write_round()
                        assert time.monotonic() - resumed_at < 30, "the shippers are not back"
                    for _ in range(AFTER_RECONNECT):
                        await couriers.write_round()
                    await couriers.ping(pings[2])

                    # then each shipper has every message and the latest position
                    with contextlib.suppress(AssertionError):  # the checks below say what lacks
                        await wait_for(
                            lambda: all(w.delivered == couriers.ids_of(w.delivery) for w in chats),
                            TIMEOUT,
                            "every message delivered",
                        )
                    await wait_for(lambda: all(m.shows(pings[2]) for m in maps), TIMEOUT, "ping")
                    return KillOutcome(chats, maps, couriers.written, killed_at, resumed_at)
            finally:
                for task in running:
                    task.cancel()
                ended = await asyncio.gather(*running, return_exceptions=True)
                failed = [e for e in ended if isinstance(e, Exception)]  # (not the cancels)
                if failed:
                    raise failed[0]

        outcome = asyncio.run(scenario())
        victim.process.wait(timeout=10)

    missed = sum(
        len(
            {x.message_id for x in outcome.written if x.delivery_id == c.delivery.pk}
            - set(c.delivered)
        )
        for c in outcome.chats
    )
    watchers: list[Watcher] = [*outcome.chats, *outcome.maps]
    log.warning(
        "[%s] web process killed under %d sockets: all dropped within %.3f s; back on the"
        " survivor and caught up %.3f s (max %.3f s) after their back-off; per chat: %s"
        " messages fetched with since_id (%s written while away), duplicates dropped %s;"
        " %d messages in all, missed %d",
        broker_name(system),
        len(watchers),
        max(w.dropped[0][0] for w in watchers) - outcome.killed_at,
        sorted(w.ready_at[1] - outcome.resumed_at for w in watchers)[len(watchers) // 2],
        max(w.ready_at[1] for w in watchers) - outcome.resumed_at,
        [c.fetched for c in outcome.chats],
        AWAY,
        [c.duplicates_dropped for c in outcome.chats],
        len(outcome.written),
        missed,
    )

    abnormal = 1006  # no close frame: the process died
    for chat in outcome.chats:
        written = [x.message_id for x in outcome.written if x.delivery_id == chat.delivery.pk]
        # dropped once, abnormally, and back on the survivor
        assert [code for _, code in chat.dropped] == [abnormal]
        assert chat.connected_to == [victim.port, survivor.port]
        # nothing missed, nothing twice, in order, each stored once; what was written while it
        # was away came from the history
        assert chat.delivered == written
        assert chat.live + chat.fetched == len(written)
        assert chat.fetched >= AWAY
        assert chat.live >= BEFORE_KILL + AFTER_RECONNECT  # and live again once back
        assert Message.objects.filter(conversation__delivery=chat.delivery).count() == len(written)
    for map_ in outcome.maps:
        assert [code for _, code in map_.dropped] == [abnormal]
        assert map_.connected_to == [victim.port, survivor.port]
        # live before the kill, the latest at once on reconnecting, then live again
        assert [connection for connection, _, _ in map_.positions] == [1, 2, 2]
        for (_, lat, lon), sent in zip(map_.positions, pings, strict=True):
            assert same_place((lat, lon), sent)
