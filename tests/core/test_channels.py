"""The ASGI app routes WebSockets through Channels and the real Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.asgi import application

# Channels closes stale DB connections around each message; let it reach the test database.
pytestmark = pytest.mark.django_db(transaction=True)


def test_test_settings_use_the_redis_channel_layer():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis.")
    assert type(get_channel_layer()).__module__.startswith("channels_redis")


async def _ping_round_trip() -> tuple[dict, dict, bool]:
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await communicator.connect()
    await communicator.send_json_to({"ping": 42})
    reply = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"hello": 1})
    error = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    return reply, error, connected


def test_ping_goes_round_the_channel_layer():
    reply, error, connected = async_to_sync(_ping_round_trip)()
    assert connected
    assert reply == {"pong": 42}
    assert "error" in error


async def _foreign_origin() -> bool:
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def test_websocket_from_a_foreign_origin_is_refused():
    assert async_to_sync(_foreign_origin)() is False


@pytest.mark.parametrize("url", ["/ws/nowhere/"])
def test_unknown_websocket_path_is_refused(url):
    async def connect() -> bool:
        communicator = WebsocketCommunicator(
            application, url, headers=[(b"origin", b"http://testserver")]
        )
        try:
            connected, _ = await communicator.connect()
        except ValueError:
            return False
        return connected

    assert async_to_sync(connect)() is False


# --- refusals: accepted, then closed with the code (marketplace.core.websocket) --------------


@pytest.mark.parametrize(
    "path",
    [
        "/ws/notifications/",
        "/ws/deliveries/1/chat/",
        "/ws/deliveries/1/track/",
    ],
)
def test_every_login_socket_accepts_then_closes_an_anonymous_browser_with_4401(path):
    from marketplace.core.websocket import CloseCode
    from tests.sockets import refused_with

    code = async_to_sync(refused_with)(path, [(b"origin", b"http://testserver")])

    assert code == CloseCode.UNAUTHENTICATED


@pytest.mark.parametrize("path", ["/ws/notifications/", "/ws/deliveries/1/track/"])
def test_a_foreign_origin_is_still_refused_at_the_handshake(path):
    from tests.sockets import handshake_refused

    assert async_to_sync(handshake_refused)(path, [(b"origin", b"http://evil.example")])


def test_frames_from_a_refused_client_get_nothing_back():
    async def scenario() -> tuple[dict, bool]:
        communicator = WebsocketCommunicator(
            application, "/ws/notifications/", headers=[(b"origin", b"http://testserver")]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.send_to(text_data="{not json")  # before it saw the close
        await communicator.send_json_to({"type": "read", "ids": [1]})
        closed = await communicator.receive_output(timeout=2)
        quiet = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return closed, quiet

    closed, quiet = async_to_sync(scenario)()

    assert closed == {"type": "websocket.close", "code": 4401}
    assert quiet
