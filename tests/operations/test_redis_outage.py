"""Redis stopped for 30 s (SIGKILL, then started again on the same port) while a courier and a
shipper chat and the shipper watches the tracking (issue 13, "Faults survived").

The test runs its own `redis-server` (no persistence) and uvicorn serving the app on it (channel
layer, /readyz, broker URL) against the test database. During the outage the API must keep
answering what needs only the database: chat messages and pings posted over HTTP are stored and
answered 2xx (their broadcasts fail softly), lists and positions are read. Open sockets are
closed with 1013 (try again later), new ones accepted and closed with 1013: no 5xx, no hang.
Once Redis is back the same uvicorn serves sockets and broadcasts again, and every message is in
the database once; the shipper catches up with `since_id`.

REDIS_OUTAGE_SECONDS (default 30, as the issue says) shortens the outage for a quick run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests
import websockets
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.bench.live.server import LiveServer, uvicorn_server
from marketplace.chat.models import Message
from marketplace.tracking.models import LocationPing
from tests.operations.faults_servers import RedisServer, redis_server
from tests.tracking.helpers import new_delivery, pick_up, ping, start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

OUTAGE_SECONDS = float(os.environ.get("REDIS_OUTAGE_SECONDS", "30"))
TIMEOUT = 10.0  # longer than this without an answer counts as a hang
TRY_AGAIN_LATER = 1013
log = logging.getLogger(__name__)


def token(user: Any) -> str:
    return str(AccessToken.for_user(user))


async def next_frame(ws: Any, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def close_code_of(ws: Any, timeout: float = TIMEOUT) -> int | None:
    """The close code the server sends on this socket (frames before it are skipped); None if
    the connection ends without a close frame. AssertionError if it stays open (a hang)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        raise AssertionError(f"the socket stayed open {timeout:.0f} s with Redis down") from None


@dataclass
class Outcomes:
    """Every request's outcome during the outage: a status, or "timeout"/"error"."""

    seen: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)

    def record(self, what: str, outcome: int | str, ok: bool) -> None:
        self.seen[f"{what} {outcome}"] += 1
        if not ok:
            self.bad.append(f"{what}: {outcome}")


class Route:
    """The courier's pings: 5 m and one second (device time) apart, from 10 minutes ago, so
    that each is plausible after the one before however fast the test sends them."""

    def __init__(self) -> None:
        self.sent = 0
        self.accepted = 0
        self.start = timezone.now() - timedelta(minutes=10)

    def next(self) -> dict[str, Any]:
        self.sent += 1
        return ping(3_000 + 5 * self.sent, at=self.start + timedelta(seconds=self.sent))


@dataclass
class Party:
    server: LiveServer
    delivery_id: int
    user: Any

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token(self.user)}"

    @property
    def chat_url(self) -> str:
        return (
            f"{self.server.ws_url}/ws/deliveries/{self.delivery_id}/chat/?token={token(self.user)}"
        )

    @property
    def track_url(self) -> str:
        return (
            f"{self.server.ws_url}/ws/deliveries/{self.delivery_id}/track/?token={token(self.user)}"
        )

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, f"{self.server.http_url}/api/v1/{path}", timeout=TIMEOUT, **kwargs
        )

    def post_message(self, body: str) -> requests.Response:
        return self.call("POST", f"deliveries/{self.delivery_id}/messages/", json={"body": body})

    def post_ping(self, route: Route) -> requests.Response:
        path = f"courier/deliveries/{self.delivery_id}/pings/"
        answer = self.call("POST", path, json={"pings": [route.next()]})
        if answer.status_code == 200:
            route.accepted += answer.json()["accepted"]
        return answer

    def messages_since(self, since_id: int) -> list[dict[str, Any]]:
        path = f"deliveries/{self.delivery_id}/messages/?since_id={since_id}&page_size=200"
        answer = self.call("GET", path)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["results"])


def test_chat_and_tracking_survive_redis_stopped_for_30_seconds() -> None:
    # given a delivery in transit, served by uvicorn on a Redis of the test's own
    delivery = start(pick_up(new_delivery()))
    with (
        redis_server() as redis,
        uvicorn_server(
            settings_module="config.settings.test",
            redis_url=redis.url,
            extra_env={
                "TEST_CHANNELS_PREFIX": f"outage{redis.port}",
                "CHAT_RATE_LIMIT": "1000",  # two messages a second for a minute
            },
        ) as server,
    ):
        courier = Party(server, delivery.pk, delivery.courier)
        shipper = Party(server, delivery.pk, delivery.parcel.shipper)
        report = asyncio.run(scenario(server, redis, courier, shipper))

    # then nothing failed while Redis was down: every request answered, none with a 5xx
    log.warning(
        "Redis outage %.0f s: outcomes %s; sockets closed with %s; %d new sockets closed with %s;"
        " recovered %.2f s after Redis was back; %d messages, %d pings stored",
        OUTAGE_SECONDS,
        dict(report["outcomes"].seen),
        report["open_socket_codes"],
        len(report["new_socket_codes"]),
        sorted(set(report["new_socket_codes"])),
        report["recovered_in"],
        len(report["posted"]),
        report["route"].accepted,
    )
    assert report["outcomes"].bad == [], "requests failed or hung while Redis was down"
    assert report["open_socket_codes"] == [TRY_AGAIN_LATER] * 3
    assert len(report["new_socket_codes"]) >= 2
    assert set(report["new_socket_codes"]) == {TRY_AGAIN_LATER}
    assert report["recovered_in"] < 10

    # and every message is stored once, in the order posted; every accepted ping once
    stored = list(
        Message.objects.filter(conversation__delivery=delivery).values_list("body", flat=True)
    )
    assert stored == report["posted"], "a message was lost or stored twice"
    route = report["route"]
    assert route.accepted == route.sent, "a ping was refused"
    assert LocationPing.objects.filter(delivery=delivery).count() == route.sent
    # and the shipper, reconnected, caught up on what it missed with since_id
    assert report["caught_up"] == report["posted"][report["seen_live_before"] :]


async def scenario(
    server: LiveServer, redis: RedisServer, courier: Party, shipper: Party
) -> dict[str, Any]:
    posted: list[str] = []
    route = Route()

    async def http(call: Any, *args: Any) -> requests.Response:
        return await asyncio.to_thread(call, *args)

    # when they chat and track live
    courier_chat = await websockets.connect(courier.chat_url, open_timeout=TIMEOUT)
    shipper_chat = await websockets.connect(shipper.chat_url, open_timeout=TIMEOUT)
    courier_track = await websockets.connect(courier.track_url, open_timeout=TIMEOUT)
    shipper_track = await websockets.connect(shipper.track_url, open_timeout=TIMEOUT)
    await next_frame(shipper_track, "status")
    last_seen = 0
    for i in range(5):
        for sender, sender_ws in ((courier, courier_chat), (shipper, shipper_chat)):
            body = f"before {i} from {sender.user.pk}"
            posted.append(body)
            await sender_ws.send(json.dumps({"type": "message", "body": body}))
            live = await next_frame(shipper_chat, "message")
            assert live["body"] == body
            last_seen = live["id"]
        await courier_track.send(json.dumps({"type": "ping", **route.next()}))
        route.accepted += (await next_frame(courier_track, "ack"))["accepted"]
        await next_frame(shipper_track, "position")
    seen_live_before = len(posted)

    # and Redis is killed
    redis.stop(signal.SIGKILL)
    stopped_at = time.monotonic()
    # (the sockets that receive broadcasts close; the courier's tracking socket only sends)
    listening = (courier_chat, shipper_chat, shipper_track)
    open_socket_codes = list(await asyncio.gather(*(close_code_of(ws) for ws in listening)))

    outcomes = Outcomes()
    new_socket_codes: list[int | None] = []
    i = 0
    while time.monotonic() - stopped_at < OUTAGE_SECONDS:
        for sender in (courier, shipper):
            body = f"during {i} from {sender.user.pk}"
            try:
                answer = await http(sender.post_message, body)
            except requests.RequestException as exc:
                outcomes.record("POST messages", type(exc).__name__, ok=False)
                continue
            outcomes.record("POST messages", answer.status_code, ok=answer.status_code == 201)
            if answer.status_code == 201:
                posted.append(body)
        reads = [
            ("POST pings", courier.post_ping, (route,)),
            ("GET parcels", shipper.call, ("GET", "parcels/")),
            ("GET position", shipper.call, ("GET", f"deliveries/{shipper.delivery_id}/position/")),
            ("GET messages", shipper.messages_since, (0,)),
        ]
        for what, call, args in reads:
            try:
                answer = await http(call, *args)
            except (requests.RequestException, AssertionError) as exc:
                outcomes.record(what, type(exc).__name__, ok=False)
                continue
            if isinstance(answer, requests.Response):
                outcomes.record(what, answer.status_code, ok=answer.status_code < 300)
            else:
                outcomes.record(what, 200, ok=True)
        await courier_track.send(json.dumps({"type": "ping", **route.next()}))
        try:
            ack = await next_frame(courier_track, "ack")
        except (websockets.ConnectionClosed, TimeoutError) as exc:
            outcomes.record("WS ping", type(exc).__name__, ok=False)
        else:
            outcomes.record("WS ping", "ack", ok=True)
            route.accepted += ack["accepted"]
        if i % 3 == 0:  # a client reconnecting, as apps do, and the load balancer's probe
            for url in (shipper.chat_url, courier.track_url):
                try:
                    ws = await websockets.connect(url, open_timeout=TIMEOUT)
                except (OSError, websockets.InvalidStatus, TimeoutError) as exc:
                    outcomes.record("WS connect", type(exc).__name__, ok=False)
                    continue
                new_socket_codes.append(await close_code_of(ws))
            ready = await http(requests.get, f"{server.http_url}/readyz")
            outcomes.record("GET /readyz", ready.status_code, ok=ready.status_code == 503)
        i += 1
        await asyncio.sleep(0.5)

    # and Redis is back on the same port, the app not restarted
    redis.start()
    back_at = time.monotonic()
    recovered_in, watcher = await recovery(courier, shipper, posted, route, back_at)
    async with websockets.connect(courier.track_url, open_timeout=TIMEOUT) as track:
        await track.send(json.dumps({"type": "ping", **route.next()}))
        route.accepted += (await next_frame(track, "ack"))["accepted"]
        await next_frame(watcher[1], "position")  # the shipper watching sees it live
    ready = await http(requests.get, f"{server.http_url}/readyz")
    assert ready.status_code == 200, ready.text
    caught_up = [m["body"] for m in await http(shipper.messages_since, last_seen)]
    for ws in (*watcher, courier_track):
        await ws.close()
    return {
        "posted": posted,
        "outcomes": outcomes,
        "open_socket_codes": open_socket_codes,
        "new_socket_codes": new_socket_codes,
        "recovered_in": recovered_in,
        "route": route,
        "seen_live_before": seen_live_before,
        "caught_up": caught_up,
    }


async def recovery(
    courier: Party, shipper: Party, posted: list[str], route: Route, back_at: float
) -> tuple[float, tuple[Any, Any]]:
    """Seconds from Redis's return until new sockets stay open, a message posted over HTTP
    reaches the shipper's chat live and a ping its tracking; and those two sockets."""
    attempt = 0
    while time.monotonic() - back_at < 30:
        attempt += 1
        chat = await websockets.connect(shipper.chat_url, open_timeout=TIMEOUT)
        track = await websockets.connect(shipper.track_url, open_timeout=TIMEOUT)
        try:
            await next_frame(track, "status", timeout=2)
            body = f"after {attempt} from {courier.user.pk}"
            answer = await asyncio.to_thread(courier.post_message, body)
            assert answer.status_code == 201, answer.text
            posted.append(body)
            assert (await next_frame(chat, "message", timeout=2))["body"] == body
            answer = await asyncio.to_thread(courier.post_ping, route)
            assert answer.status_code == 200, answer.text
            await next_frame(track, "position", timeout=2)
        except (websockets.ConnectionClosed, TimeoutError):
            await chat.close()
            await track.close()
            await asyncio.sleep(0.2)
            continue
        return time.monotonic() - back_at, (chat, track)
    raise AssertionError("sockets and broadcasts did not recover within 30 s of Redis's return")
