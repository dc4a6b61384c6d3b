"""Tracking over WebSockets through the real ASGI stack and the Redis channel layer: who may
connect (and the close code for everyone else), pings and acks, live positions to the shipper,
nothing outside pickup..delivery, error frames, and the recipient's public stream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.gis.geos import Point
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from marketplace.core.geo import approximate
from marketplace.core.websocket import CloseCode
from marketplace.tracking import selectors
from marketplace.tracking.models import LivePosition, LocationPing
from marketplace.tracking.services import (
    pings_record,
    tracking_link_get_or_create,
    tracking_status_broadcast_on_commit,
)
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.sockets import refused_with
from tests.tracking.helpers import deliver, minutes_ago, new_delivery, pick_up, ping, start

# Channels runs the consumers' queries in other threads: they must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
QUIET = 0.3  # seconds to wait before concluding that nothing comes


def token(user: Any) -> str:
    return str(AccessToken.for_user(user))


def track_path(delivery: Any) -> str:
    return f"/ws/deliveries/{delivery.pk if hasattr(delivery, 'pk') else delivery}/track/"


async def connect(path: str, jwt: str | None = None, *, headers=()) -> tuple[Any, bool, Any]:
    url = path + (f"?token={jwt}" if jwt else "")
    communicator = WebsocketCommunicator(application, url, headers=[ORIGIN, *headers])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def refusal(path: str, jwt: str | None = None) -> int | None:
    """The close code (the socket is accepted, then closed with nothing sent: tests.sockets)."""
    url = path + (f"?token={jwt}" if jwt else "")
    return async_to_sync(refused_with)(url, [ORIGIN])


# --- who may connect --------------------------------------------------------------------------


def test_anonymous_is_refused_with_4401():
    delivery = new_delivery()
    assert refusal(track_path(delivery)) == CloseCode.UNAUTHENTICATED
    assert refusal(track_path(delivery), "not-a-jwt") == CloseCode.UNAUTHENTICATED


@pytest.mark.parametrize("who", ["shipper", "courier"])
def test_a_stranger_is_refused_with_4403(who):
    delivery = new_delivery()
    stranger = ShipperFactory() if who == "shipper" else CourierFactory()
    assert refusal(track_path(delivery), token(stranger)) == CloseCode.FORBIDDEN


def test_an_unknown_delivery_is_refused_with_4404():
    user = ShipperFactory()
    assert refusal(track_path(987_654), token(user)) == CloseCode.NOT_FOUND


def test_an_unknown_public_token_is_refused_with_4404():
    tracking_link_get_or_create(delivery=new_delivery())
    assert refusal("/ws/track/x" + "y" * 31 + "/") == CloseCode.NOT_FOUND


def test_the_shipper_may_connect_with_the_session_cookie_of_the_site():
    # given: the tracking page's browser, logged in to the site
    delivery = new_delivery()
    browser = Client()
    browser.force_login(delivery.parcel.shipper)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())

    async def scenario():
        shipper, connected, _ = await connect(track_path(delivery), headers=[cookie])
        opening = await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        return connected, opening

    # when
    connected, opening = async_to_sync(scenario)()

    # then
    assert connected
    assert opening == {
        "type": "status",
        "status": "assigned",
        "status_label": "Courier assigned",
        "tracking": False,
    }


# --- live positions ---------------------------------------------------------------------------


def test_the_shipper_and_staff_receive_the_couriers_pings_live_through_redis():
    # given: a parcel on its way; the shipper and a staff member watch
    delivery = start(pick_up(new_delivery()))
    jwt = {
        "shipper": token(delivery.parcel.shipper),
        "courier": token(delivery.courier),
        "staff": token(UserFactory(is_staff=True)),
    }
    sent = ping(4_000, at=minutes_ago(1), accuracy_m=9)

    async def scenario():
        shipper, ok_shipper, _ = await connect(track_path(delivery), jwt["shipper"])
        staff, ok_staff, _ = await connect(track_path(delivery), jwt["staff"])
        courier, ok_courier, _ = await connect(track_path(delivery), jwt["courier"])
        assert ok_shipper and ok_staff and ok_courier
        openings = [await shipper.receive_json_from(timeout=5)]
        openings.append(await staff.receive_json_from(timeout=5))
        assert await shipper.receive_nothing(timeout=QUIET)  # no position yet

        # when
        await courier.send_json_to({"type": "ping", **sent})
        ack = await courier.receive_json_from(timeout=5)
        seen = await shipper.receive_json_from(timeout=5)
        watched = await staff.receive_json_from(timeout=5)
        courier_quiet = await courier.receive_nothing(timeout=QUIET)
        for communicator in (shipper, staff, courier):
            await communicator.disconnect()
        return openings, ack, seen, watched, courier_quiet

    openings, ack, seen, watched, courier_quiet = async_to_sync(scenario)()

    # then
    assert all(o["type"] == "status" and o["tracking"] is True for o in openings)
    assert ack == {"type": "ack", "accepted": 1, "rejected": []}
    assert seen == watched
    assert seen["type"] == "position"
    assert seen["lat"] == pytest.approx(sent["lat"], abs=1e-6)
    assert seen["lon"] == pytest.approx(sent["lon"], abs=1e-6)
    assert seen["accuracy_m"] == 9
    assert seen["at"] == sent["at"]
    assert seen["eta"] > seen["at"]
    assert set(seen) == {"type", "lat", "lon", "accuracy_m", "at", "eta", "remaining_m"}
    assert courier_quiet  # the courier is not in the watchers' group
    assert LocationPing.objects.filter(delivery=delivery).count() == 1


def test_the_shipper_gets_the_last_position_on_connect_while_tracking():
    # given
    delivery = start(pick_up(new_delivery()))
    sent = ping(5_000, at=minutes_ago(2))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[sent])
    jwt = token(delivery.parcel.shipper)

    async def scenario():
        shipper, _, _ = await connect(track_path(delivery), jwt)
        frames = [await shipper.receive_json_from(timeout=5) for _ in range(2)]
        quiet = await shipper.receive_nothing(timeout=QUIET)
        await shipper.disconnect()
        return frames, quiet

    # when
    (status, position), quiet = async_to_sync(scenario)()

    # then
    assert (status["type"], status["tracking"]) == ("status", True)
    assert position["type"] == "position"
    assert position["lon"] == pytest.approx(sent["lon"], abs=1e-6)
    assert quiet


def test_after_delivery_the_shipper_gets_no_position():
    # given: positions while in transit, then the hand-over
    delivery = start(pick_up(new_delivery()))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(7_900)])
    delivery = deliver(delivery)
    jwt = token(delivery.parcel.shipper)

    async def scenario():
        shipper, connected, _ = await connect(track_path(delivery), jwt)
        status = await shipper.receive_json_from(timeout=5)
        quiet = await shipper.receive_nothing(timeout=QUIET)
        await shipper.disconnect()
        return connected, status, quiet

    # when
    connected, status, quiet = async_to_sync(scenario)()

    # then
    assert connected
    assert (status["status"], status["tracking"]) == ("delivered", False)
    assert quiet


@pytest.mark.parametrize("stage", ["assigned", "delivered"])
def test_a_ping_outside_pickup_to_delivery_gets_an_error_frame_and_is_not_shared(stage):
    # given
    delivery = new_delivery()
    if stage == "delivered":
        delivery = deliver(start(pick_up(delivery)))
    jwt = {"shipper": token(delivery.parcel.shipper), "courier": token(delivery.courier)}

    async def scenario():
        shipper, _, _ = await connect(track_path(delivery), jwt["shipper"])
        courier, connected, _ = await connect(track_path(delivery), jwt["courier"])
        status = await shipper.receive_json_from(timeout=5)
        await courier.send_json_to({"type": "ping", **ping(3_000)})
        reply = await courier.receive_json_from(timeout=5)
        quiet = await shipper.receive_nothing(timeout=QUIET)
        await shipper.disconnect()
        await courier.disconnect()
        return connected, status, reply, quiet

    # when
    connected, status, reply, quiet = async_to_sync(scenario)()

    # then: the courier may connect, but nothing is stored or shown
    assert connected
    assert status["tracking"] is False
    assert reply["type"] == "error" and reply["code"] == "not_tracking" and reply["message"]
    assert quiet
    assert not LocationPing.objects.exists()


# --- frames ------------------------------------------------------------------------------------


def test_malformed_frames_get_error_frames_and_the_socket_stays_open():
    # given
    delivery = start(pick_up(new_delivery()))
    jwt = {"shipper": token(delivery.parcel.shipper), "courier": token(delivery.courier)}

    async def scenario():
        courier, _, _ = await connect(track_path(delivery), jwt["courier"])
        shipper, _, _ = await connect(track_path(delivery), jwt["shipper"])
        await shipper.receive_json_from(timeout=5)  # status
        replies = []
        for frame in ("not json", "[1, 2]", '{"no": "type"}', '{"type": "hello"}'):
            await courier.send_to(text_data=frame)
            replies.append(await courier.receive_json_from(timeout=5))
        await courier.send_to(bytes_data=b"\x00\x01")
        replies.append(await courier.receive_json_from(timeout=5))
        await courier.send_json_to({"type": "ping", "lat": "north"})
        bad_ping = await courier.receive_json_from(timeout=5)
        await courier.send_json_to({"type": "ping", **ping(3_000, at=minutes_ago(1))})
        good_ping = await courier.receive_json_from(timeout=5)
        # the good ping's position reaches the shipper through Redis; take it before the shipper
        # tries to ping, so the shipper's error frame cannot race it
        moved = await shipper.receive_json_from(timeout=5)
        await shipper.send_json_to({"type": "ping", **ping(3_100)})
        shipper_ping = await shipper.receive_json_from(timeout=5)
        await courier.disconnect()
        await shipper.disconnect()
        return replies, bad_ping, good_ping, moved, shipper_ping

    # when
    replies, bad_ping, good_ping, moved, shipper_ping = async_to_sync(scenario)()

    # then
    assert [r["code"] for r in replies] == [
        "bad_frame",
        "bad_frame",
        "bad_frame",
        "unknown_type",
        "bad_frame",
    ]
    assert all(r["type"] == "error" and r["message"] for r in replies)
    assert bad_ping == {
        "type": "ack",
        "accepted": 0,
        "rejected": [{"index": 0, "reason": "invalid_coordinates"}],
    }
    assert good_ping == {"type": "ack", "accepted": 1, "rejected": []}
    assert moved["type"] == "position"
    assert (shipper_ping["type"], shipper_ping["code"]) == ("error", "not_allowed")
    assert LocationPing.objects.filter(delivery=delivery).count() == 1


# --- the public stream -------------------------------------------------------------------------


def test_the_public_link_streams_status_eta_and_an_approximate_area_only():
    # given: the recipient follows the link; the parcel is on its way
    delivery = start(pick_up(new_delivery()))
    link = tracking_link_get_or_create(delivery=delivery)
    jwt = token(delivery.courier)
    sent = ping(4_000, 120, at=minutes_ago(1))

    async def scenario():
        recipient, connected, _ = await connect(f"/ws/track/{link.token}/")
        opening = await recipient.receive_json_from(timeout=5)
        courier, _, _ = await connect(track_path(delivery), jwt)
        await courier.send_json_to({"type": "ping", **sent})
        await courier.receive_json_from(timeout=5)  # ack
        update = await recipient.receive_json_from(timeout=5)
        await recipient.send_json_to({"type": "ping", **sent})
        refused = await recipient.receive_json_from(timeout=5)
        await recipient.send_to(text_data="{oops")
        malformed = await recipient.receive_json_from(timeout=5)
        await courier.disconnect()
        await recipient.disconnect()
        return connected, opening, update, refused, malformed

    # when
    connected, opening, update, refused, malformed = async_to_sync(scenario)()

    # then
    assert connected
    keys = {"type", "status", "status_label", "tracking", "eta", "eta_live", "area"}
    assert set(opening) == keys and set(update) == keys
    assert (opening["area"], opening["eta_live"]) == (None, False)
    area = approximate(Point(sent["lon"], sent["lat"], srid=4326))
    assert update["area"] == {"lat": area.y, "lon": area.x, "radius_m": 500}
    assert (area.x, area.y) != pytest.approx((sent["lon"], sent["lat"]), abs=1e-4)
    assert update["eta_live"] is True and update["eta"]
    assert update["status"] == "in_transit"
    assert (refused["type"], refused["code"]) == ("error", "read_only")
    assert (malformed["type"], malformed["code"]) == ("error", "bad_frame")
    assert LocationPing.objects.filter(delivery=delivery).count() == 1


def test_a_status_change_reaches_both_streams():
    # given: the shipper and the recipient watch a parcel in transit
    delivery = start(pick_up(new_delivery()))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(7_900)])
    link = tracking_link_get_or_create(delivery=delivery)
    jwt = token(delivery.parcel.shipper)

    def hand_over() -> None:
        tracking_status_broadcast_on_commit(delivery=deliver(delivery))

    async def scenario():
        shipper, _, _ = await connect(track_path(delivery), jwt)
        recipient, _, _ = await connect(f"/ws/track/{link.token}/")
        for _ in range(2):  # status and position
            await shipper.receive_json_from(timeout=5)
        await recipient.receive_json_from(timeout=5)

        # when: the delivery step tells the streams
        await database_sync_to_async(hand_over)()
        for_shipper = await shipper.receive_json_from(timeout=5)
        for_recipient = await recipient.receive_json_from(timeout=5)
        await shipper.disconnect()
        await recipient.disconnect()
        return for_shipper, for_recipient

    for_shipper, for_recipient = async_to_sync(scenario)()

    # then: tracking is over; the pages drop the courier
    assert for_shipper == {
        "type": "status",
        "status": "delivered",
        "status_label": "Delivered",
        "tracking": False,
    }
    assert (for_recipient["status"], for_recipient["area"], for_recipient["eta"]) == (
        "delivered",
        None,
        None,
    )


def test_the_live_frames_are_what_the_pages_make_of_the_stored_position():
    # given: the shipper and the recipient watch a parcel in transit
    delivery = start(pick_up(new_delivery()))
    link = tracking_link_get_or_create(delivery=delivery)
    sent = ping(4_321, 77, at=minutes_ago(1), accuracy_m=12.5, speed_mps=4.2, heading_deg=271)
    shipper_jwt, courier_jwt = token(delivery.parcel.shipper), token(delivery.courier)

    async def scenario():
        shipper, _, _ = await connect(track_path(delivery), shipper_jwt)
        await shipper.receive_json_from(timeout=5)  # status
        recipient, _, _ = await connect(f"/ws/track/{link.token}/")
        await recipient.receive_json_from(timeout=5)  # opening
        courier, _, _ = await connect(track_path(delivery), courier_jwt)
        # when the courier's ping is recorded over the socket
        await courier.send_json_to({"type": "ping", **sent})
        await courier.receive_json_from(timeout=5)  # ack
        frames = (
            await shipper.receive_json_from(timeout=5),
            await recipient.receive_json_from(timeout=5),
        )
        for communicator in (courier, shipper, recipient):
            await communicator.disconnect()
        return frames

    position, public = async_to_sync(scenario)()

    # then both frames equal what the selectors (the pages, the REST API, the opening frames)
    # make of the stored live position
    stored = LivePosition.objects.get(delivery=delivery)
    delivery.refresh_from_db()
    assert position == selectors.position_frame(stored)
    assert public == json.loads(
        json.dumps(selectors.public_frame(delivery=delivery, position=stored))
    )


def test_a_ping_writer_whose_connection_went_away_reconnects_after_a_pause(monkeypatch):
    # given: a courier's ping written, then the database drops the writer's connection
    from django.db import connection

    from marketplace.tracking import consumers

    monkeypatch.setattr(consumers, "IDLE_CHECK_SECONDS", 0.0)  # any pause counts
    delivery = start(pick_up(new_delivery()))
    jwt = token(delivery.courier)

    def drop_other_connections() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    async def scenario():
        courier, _, _ = await connect(track_path(delivery), jwt)
        await courier.send_json_to({"type": "ping", **ping(3_000, at=minutes_ago(2))})
        first = await courier.receive_json_from(timeout=5)
        # (thread-sensitive: from the test's own thread, whose connection stays)
        await database_sync_to_async(drop_other_connections)()
        # when the next ping comes
        await courier.send_json_to({"type": "ping", **ping(3_100, at=minutes_ago(1))})
        second = await courier.receive_json_from(timeout=5)
        await courier.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()

    # then it is stored all the same
    assert first == second == {"type": "ack", "accepted": 1, "rejected": []}
    assert LocationPing.objects.filter(delivery=delivery).count() == 2
