"""The live features end to end: uvicorn in a subprocess on the test database, real WebSocket
clients (the `websockets` package) over loopback, the Redis channel layer in between."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from django.core.management import call_command
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.bench.live.server import LiveServer, uvicorn_server
from tests.factories.accounts import ShipperFactory
from tests.sockets import next_frame
from tests.tracking.helpers import new_delivery, pick_up, ping, start

REDIS_URL = "redis://127.0.0.1:6379/15"
TIMEOUT = 5.0

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(transactional_db: Any) -> Iterator[LiveServer]:
    with uvicorn_server(settings_module="config.settings.test", redis_url=REDIS_URL) as live:
        yield live


def token(user: Any) -> str:
    return str(AccessToken.for_user(user))


async def refused_status(url: str, **kwargs: Any) -> int:
    """The HTTP status of a handshake the server refuses."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, open_timeout=TIMEOUT, **kwargs):
            pass
    return refused.value.response.status_code


def test_chat_message_and_ping_flow_from_courier_to_shipper(server: LiveServer) -> None:
    # given a delivery in transit, its courier and shipper connected with their JWTs
    delivery = start(pick_up(new_delivery()))
    courier, shipper = delivery.courier, delivery.parcel.shipper
    base = f"{server.ws_url}/ws/deliveries/{delivery.pk}"
    lon, lat = 0.0, 0.0

    async def scenario() -> dict[str, Any]:
        nonlocal lon, lat
        async with (
            websockets.connect(f"{base}/chat/?token={token(courier)}") as courier_chat,
            websockets.connect(f"{base}/chat/?token={token(shipper)}") as shipper_chat,
            websockets.connect(f"{base}/track/?token={token(courier)}") as courier_track,
            websockets.connect(f"{base}/track/?token={token(shipper)}") as shipper_track,
        ):
            status = await next_frame(shipper_track, "status")
            # when the courier writes and then sends a position
            await courier_chat.send(json.dumps({"type": "message", "body": "On my way!"}))
            message = await next_frame(shipper_chat, "message")
            sent = ping(4_000)
            lon, lat = sent["lon"], sent["lat"]
            await courier_track.send(json.dumps({"type": "ping", **sent}))
            ack = await next_frame(courier_track, "ack")
            position = await next_frame(shipper_track, "position")
            return {"status": status, "message": message, "ack": ack, "position": position}

    frames = asyncio.run(scenario())

    # then the shipper got both, live
    assert frames["status"]["tracking"] is True
    assert frames["message"]["body"] == "On my way!"
    assert frames["message"]["sender_id"] == courier.pk
    assert frames["ack"] == {"type": "ack", "accepted": 1, "rejected": []}
    assert frames["position"]["lat"] == pytest.approx(lat, abs=1e-6)
    assert frames["position"]["lon"] == pytest.approx(lon, abs=1e-6)


async def close_code(url: str, **kwargs: Any) -> int:
    """The close code of a connection the server accepts and then closes, with nothing sent."""
    async with websockets.connect(url, open_timeout=TIMEOUT, **kwargs) as ws:
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                frame = await ws.recv()
                pytest.fail(f"a refused client got a frame: {frame!r}")
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_every_socket_closes_a_refused_client_with_its_code(server: LiveServer) -> None:
    # given a delivery, a stranger with a valid token, and a browser with no session
    delivery = new_delivery()
    stranger = ShipperFactory()
    base = f"{server.ws_url}/ws"
    track = f"{base}/deliveries/{delivery.pk}/track/"
    browser = {"origin": server.http_url}

    async def scenario() -> dict[str, int]:
        return {
            "notifications, no session": await close_code(f"{base}/notifications/", **browser),
            "notifications, bad token": await close_code(f"{base}/notifications/?token=x"),
            "track, no session": await close_code(track, **browser),
            "track, stranger": await close_code(f"{track}?token={token(stranger)}"),
            "track, no such delivery": await close_code(
                f"{base}/deliveries/{delivery.pk + 999}/track/?token={token(stranger)}"
            ),
            "public link, no such token": await close_code(f"{base}/track/{'x' * 32}/", **browser),
            "chat, stranger": await close_code(
                f"{base}/deliveries/{delivery.pk}/chat/?token={token(stranger)}"
            ),
        }

    # when each connects, then the handshake succeeds and the close carries the code
    assert asyncio.run(scenario()) == {
        "notifications, no session": 4401,
        "notifications, bad token": 4401,
        "track, no session": 4401,
        "track, stranger": 4403,
        "track, no such delivery": 4404,
        "public link, no such token": 4404,
        "chat, stranger": 4403,
    }


def test_anonymous_and_foreign_origin_connections_are_refused(server: LiveServer) -> None:
    # given a delivery and its shipper's valid token
    delivery = new_delivery()
    chat = f"{server.ws_url}/ws/deliveries/{delivery.pk}/chat/"
    valid = token(delivery.parcel.shipper)

    async def scenario() -> tuple[int, int, int]:
        # when nobody logs in, a foreign site's page brings a token, or a browser has no session
        anonymous = await refused_status(chat)
        foreign = await refused_status(f"{chat}?token={valid}", origin="https://evil.example")
        async with websockets.connect(chat, origin=server.http_url) as ws:
            async with asyncio.timeout(TIMEOUT):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
        assert closed.value.rcvd is not None
        return anonymous, foreign, closed.value.rcvd.code

    anonymous, foreign, browser_close = asyncio.run(scenario())

    # then the handshakes are refused (the origin check: HTTP 403, no consumer runs, no code to
    # tell a foreign page anything), and a browser without a session is closed with 4401
    assert anonymous == 403
    assert foreign == 403
    assert browser_close == 4401


def test_bench_live_runs_with_tiny_sizes() -> None:
    # given the test database (its name starts with "test_")
    out = io.StringIO()

    # when the live benchmark runs with two deliveries for a second
    call_command(
        "bench_live",
        deliveries=2,
        messages=4,
        seconds=1,
        group_sends=10,
        settings_module="config.settings.test",
        redis_url=REDIS_URL,
        stdout=out,
    )

    # then it measured everything and lost nothing
    report = out.getvalue()
    assert "(a) chat round trip, courier -> shipper, 4 messages (0 timed out)" in report
    assert "lost = accepted - delivered = 0 " in report
    assert "rejected 0, errors 0" in report
    assert "nothing lost (positions 0, chat timeouts 0, pings refused 0): PASS" in report
