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
