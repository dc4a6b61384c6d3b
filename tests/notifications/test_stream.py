"""The per-user notification stream and the socket rules every live feature shares."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from marketplace.core.websocket import CloseCode
from marketplace.notifications.models import Notification
from marketplace.notifications.push import LoggingPushProvider
from marketplace.notifications.services import notify
from tests.factories.accounts import ShipperFactory
from tests.sockets import handshake_refused, refused_with

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = [(b"origin", b"http://testserver")]


def _token(user) -> str:
    return str(AccessToken.for_user(user))


async def _connect(path: str, headers=None):
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_anonymous_browser_is_accepted_then_closed_with_4401():
    # (accepted first, so that the browser's close event carries 4401, not 1006)
    assert async_to_sync(refused_with)("/ws/notifications/", BROWSER) == CloseCode.UNAUTHENTICATED


def test_mobile_client_with_a_token_and_no_origin_is_accepted_and_a_bad_token_refused():
    user = ShipperFactory()

    async def run(path):
        communicator, connected, code = await _connect(path)
        await communicator.disconnect()
        return connected, code

    assert async_to_sync(run)(f"/ws/notifications/?token={_token(user)}")[0] is True
    assert (
        async_to_sync(refused_with)("/ws/notifications/?token=not-a-jwt")
        == CloseCode.UNAUTHENTICATED
    )
    # No Origin and no token: not a browser, not a known app: refused at the handshake (HTTP
    # 403), before any consumer.
    assert async_to_sync(handshake_refused)("/ws/notifications/")


def test_a_foreign_origin_is_refused_even_with_a_token():
    user = ShipperFactory()

    async def run():
        communicator, connected, _ = await _connect(
            f"/ws/notifications/?token={_token(user)}", [(b"origin", b"https://evil.example")]
        )
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_notifications_reach_their_user_only_and_bad_frames_get_an_error_frame():
    alice, bob = ShipperFactory(), ShipperFactory()
    LoggingPushProvider.sent = []

    async def run():
        a, ok_a, _ = await _connect(f"/ws/notifications/?token={_token(alice)}")
        b, ok_b, _ = await _connect(f"/ws/notifications/?token={_token(bob)}")
        assert ok_a and ok_b

        from channels.db import database_sync_to_async

        @database_sync_to_async
        def send():
            with transaction.atomic():
                return notify(
                    user=alice,
                    kind="parcel_delivered",
                    title="Parcel #1 is delivered",
                    data={"parcel_id": 1},
                ).pk

        pk = await send()
        frame = await a.receive_json_from(timeout=5)
        nothing_for_bob = await b.receive_nothing(timeout=0.5)
        await a.send_to(text_data="{not json")
        error = await a.receive_json_from(timeout=5)
        await a.send_json_to({"type": "read", "ids": [pk]})
        read = await a.receive_json_from(timeout=5)
        await a.disconnect()
        await b.disconnect()
        return pk, frame, nothing_for_bob, error, read

    pk, frame, nothing_for_bob, error, read = async_to_sync(run)()
    assert frame["type"] == "notification" and frame["id"] == pk
    assert frame["kind"] == "parcel_delivered" and frame["data"] == {"parcel_id": 1}
    assert nothing_for_bob
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert read == {"type": "read", "count": 1}
    assert Notification.objects.get(pk=pk).read_at is not None
    assert [p["user_id"] for p in LoggingPushProvider.sent] == [alice.pk]
    assert [m.to for m in mail.outbox] == [[alice.email]]  # a key event: also emailed


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_a_frame_nested_too_deep_gets_an_error_frame_and_the_socket_stays_open(depth):
    user = ShipperFactory()

    async def run():
        socket, connected, _ = await _connect(f"/ws/notifications/?token={_token(user)}")
        assert connected
        await socket.send_to(text_data="[" * depth + "]" * depth)
        error = await socket.receive_json_from(timeout=5)
        await socket.send_json_to({"type": "read", "ids": []})
        still_there = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return error, still_there

    error, still_there = async_to_sync(run)()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert "nested deeper than" in error["message"]
    assert still_there["type"] == "read"
