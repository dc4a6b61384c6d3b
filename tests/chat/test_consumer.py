"""The chat socket against the real ASGI app and the real Redis channel layer: who gets in (and
with which close code), live messages stored before they are sent, catching up after a
reconnect, typing, read receipts, bad frames, limits, closing, and staff during a dispute."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from marketplace.chat import services
from marketplace.chat.models import Message, ReadReceipt
from marketplace.core.websocket import CloseCode
from marketplace.notifications.models import Notification
from tests.chat.conftest import (
    api,
    browser_headers,
    delivered_days_ago,
    dispute,
    open_socket,
    token_path,
)

# The consumer reads committed rows from another thread.
pytestmark = pytest.mark.django_db(transaction=True)


def outcome(path, headers=None):
    """The close code a connection gets, or None when it stays open."""

    async def run():
        communicator, code = await open_socket(path, headers)
        await communicator.disconnect()
        return code

    return async_to_sync(run)()


# --- who gets in ---------------------------------------------------------------------------------
def test_parties_get_in_from_the_web_page_and_from_the_app(chat):
    assert outcome(chat.ws, browser_headers(chat.shipper)) is None
    assert outcome(chat.ws, browser_headers(chat.courier)) is None
    assert outcome(token_path(chat.ws, chat.courier)) is None  # the app: no Origin, a JWT
    assert outcome(token_path(chat.ws, chat.shipper)) is None


def test_refused_connections_close_with_their_code(chat, stranger):
    assert outcome(chat.ws, browser_headers(None)) == CloseCode.UNAUTHENTICATED
    assert outcome(f"{chat.ws}?token=not-a-jwt") == CloseCode.UNAUTHENTICATED
    assert outcome(chat.ws, browser_headers(stranger)) == CloseCode.FORBIDDEN
    assert outcome(token_path(chat.ws, stranger)) == CloseCode.FORBIDDEN
    unknown = f"/ws/deliveries/{chat.delivery.pk + 1000}/chat/"
    assert outcome(unknown, browser_headers(chat.shipper)) == CloseCode.NOT_FOUND


def test_a_closed_conversation_refuses_connections_with_4409(chat, staff, settings):
    delivered_days_ago(chat, settings.CHAT_CLOSE_DAYS + 1)
    for user in (chat.shipper, chat.courier, staff):
        assert outcome(token_path(chat.ws, user)) == CloseCode.CLOSED
    dispute(chat)  # a dispute reopens it
    assert outcome(token_path(chat.ws, chat.shipper)) is None
    assert outcome(token_path(chat.ws, staff)) is None


def test_a_stranger_hears_nothing_of_the_conversation(chat, stranger):
    async def run():
        other, code = await open_socket(token_path(chat.ws, stranger))
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        await shipper.send_json_to({"type": "message", "body": "private"})
        echo = await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        await other.disconnect()
        return code, echo

    code, echo = async_to_sync(run)()
    assert code == CloseCode.FORBIDDEN and echo["body"] == "private"


# --- messages ------------------------------------------------------------------------------------
def test_a_message_is_stored_then_delivered_to_the_other_party(chat):
    @database_sync_to_async
    def stored(message_id):
        return Message.objects.filter(pk=message_id).values_list("body", flat=True).first()

    web_page = browser_headers(chat.shipper)

    async def run():
        shipper, _ = await open_socket(chat.ws, web_page)
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await shipper.send_json_to({"type": "message", "body": "Ring twice, please"})
        received = await courier.receive_json_from(timeout=5)
        in_db_when_received = await stored(received["id"])
        echo = await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        await courier.disconnect()
        return received, in_db_when_received, echo

    received, in_db, echo = async_to_sync(run)()
    assert in_db == "Ring twice, please"
    assert received == echo
    assert received["type"] == "message" and received["body"] == "Ring twice, please"
    assert received["sender_id"] == chat.shipper.pk and received["sender_role"] == "shipper"
    assert received["image_url"] is None and received["created_at"]
    # And the courier is notified (no email: chat messages are not emailed)
    note = Notification.objects.get(kind="chat_message")
    assert note.user == chat.courier and note.data["message_id"] == received["id"]


def test_reconnect_and_fetch_what_was_missed_through_rest(chat):
    async def first_visit():
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        await shipper.send_json_to({"type": "message", "body": "before"})
        seen = await courier.receive_json_from(timeout=5)
        await courier.disconnect()  # the courier's phone goes into a tunnel
        await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        return seen["id"]

    last_seen = async_to_sync(first_visit)()
    # While the courier is away, the shipper writes twice (the web page's REST fallback)
    for body in ("missed 1", "missed 2"):
        api(chat.shipper).post(chat.messages_url, {"body": body}, format="json")

    async def back():
        courier, code = await open_socket(token_path(chat.ws, chat.courier))
        nothing_replayed = await courier.receive_nothing(timeout=0.3)
        await courier.disconnect()
        return code, nothing_replayed

    code, nothing_replayed = async_to_sync(back)()
    assert code is None and nothing_replayed
    missed = api(chat.courier).get(chat.messages_url, {"since_id": last_seen}).json()["results"]
    assert [m["body"] for m in missed] == ["missed 1", "missed 2"]


def test_typing_reaches_the_others_only_and_is_not_stored(chat):
    async def run():
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await courier.send_json_to({"type": "typing"})
        typing = await shipper.receive_json_from(timeout=5)
        not_to_self = await courier.receive_nothing(timeout=0.3)
        await courier.send_json_to({"type": "typing"})  # again at once: not repeated
        throttled = await shipper.receive_nothing(timeout=0.3)
        await shipper.disconnect()
        await courier.disconnect()
        return typing, not_to_self, throttled

    typing, not_to_self, throttled = async_to_sync(run)()
    assert typing == {"type": "typing", "user_id": chat.courier.pk, "name": "Kurt"}
    assert not_to_self and throttled
    assert not Message.objects.exists()


def test_read_receipts_are_stored_and_shown_to_the_other_party(chat):
    message = services.message_post(delivery=chat.delivery, sender=chat.courier, body="Here")

    async def run():
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await shipper.send_json_to({"type": "read", "message_id": message.pk})
        to_courier = await courier.receive_json_from(timeout=5)
        await shipper.receive_json_from(timeout=5)  # the reader's own tabs hear it too
        await shipper.send_json_to({"type": "read", "message_id": message.pk})  # no news
        quiet = await courier.receive_nothing(timeout=0.3)
        await shipper.disconnect()
        await courier.disconnect()
        return to_courier, quiet

    to_courier, quiet = async_to_sync(run)()
    assert to_courier == {"type": "read", "user_id": chat.shipper.pk, "message_id": message.pk}
    assert quiet
    assert ReadReceipt.objects.get(user=chat.shipper).last_read_message_id == message.pk


# --- bad frames and refusals: an error frame, and the socket stays open ---------------------------
def test_malformed_frames_get_error_frames_and_the_socket_stays_open(chat):
    async def run():
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        errors = []
        for frame in (
            {"text_data": "{not json"},
            {"text_data": "[1, 2]"},
            {"bytes_data": b"\x00\x01"},
            {"text_data": '{"type": "message"}'},
            {"text_data": '{"type": "message", "body": 42, "ref": "m1"}'},
            {"text_data": '{"type": "read", "message_id": "7"}'},
            {"text_data": '{"type": "dance"}'},
        ):
            await shipper.send_to(**frame)
            errors.append(await shipper.receive_json_from(timeout=5))
        await shipper.send_json_to({"type": "message", "body": "still here"})
        message = await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        return errors, message

    errors, message = async_to_sync(run)()
    assert all(e["type"] == "error" for e in errors)
    assert [e["code"] for e in errors] == ["bad_frame"] * 6 + ["unknown_type"]
    assert errors[4]["ref"] == "m1" and "ref" not in errors[5]
    assert message["body"] == "still here"


def test_length_and_rate_limits_answer_with_error_frames(chat, settings):
    settings.CHAT_MAX_LENGTH = 10
    settings.CHAT_RATE_LIMIT = 2

    async def run():
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await courier.send_json_to({"type": "message", "body": "x" * 11, "ref": 1})
        too_long = await courier.receive_json_from(timeout=5)
        for body in ("one", "two"):
            await courier.send_json_to({"type": "message", "body": body})
            await courier.receive_json_from(timeout=5)
        await courier.send_json_to({"type": "message", "body": "three"})
        limited = await courier.receive_json_from(timeout=5)
        still_open = await courier.receive_nothing(timeout=0.3)
        await courier.disconnect()
        return too_long, limited, still_open

    too_long, limited, still_open = async_to_sync(run)()
    assert too_long["code"] == "too_long" and too_long["ref"] == 1
    assert too_long["fields"]["body"]
    assert limited["code"] == "rate_limited" and limited["details"]["retry_after"] >= 1
    assert still_open
    assert list(Message.objects.values_list("body", flat=True)) == ["one", "two"]


def test_a_conversation_that_closes_while_connected_refuses_then_closes_4409(chat, settings):
    delivered_days_ago(chat, 1)

    async def run():
        shipper, code = await open_socket(token_path(chat.ws, chat.shipper))
        settings.CHAT_CLOSE_DAYS = 0  # time passes: the conversation is now closed
        await shipper.send_json_to({"type": "message", "body": "thanks!"})
        error = await shipper.receive_json_from(timeout=5)
        closed = await shipper.receive_output(timeout=5)
        await shipper.disconnect()
        return code, error, closed

    code, error, closed = async_to_sync(run)()
    assert code is None
    assert error["code"] == "conversation_closed"
    assert closed == {"type": "websocket.close", "code": CloseCode.CLOSED}
    assert not Message.objects.exists()


# --- staff ---------------------------------------------------------------------------------------
def test_staff_watch_read_only_and_join_during_a_dispute(chat, staff):
    admin_page = browser_headers(staff)

    async def watch():
        admin, code = await open_socket(chat.ws, admin_page)
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await courier.send_json_to({"type": "message", "body": "hello"})
        seen_by_admin = await admin.receive_json_from(timeout=5)
        await courier.receive_json_from(timeout=5)
        await admin.send_json_to({"type": "message", "body": "Support here"})
        refused = await admin.receive_json_from(timeout=5)
        await admin.send_json_to({"type": "typing"})
        typing_refused = await admin.receive_json_from(timeout=5)
        courier_heard_nothing = await courier.receive_nothing(timeout=0.3)
        await admin.disconnect()
        await courier.disconnect()
        return code, seen_by_admin, refused, typing_refused, courier_heard_nothing

    code, seen, refused, typing_refused, quiet = async_to_sync(watch)()
    assert code is None and seen["body"] == "hello"
    assert refused["code"] == "read_only" and typing_refused["code"] == "read_only"
    assert quiet
    assert list(Message.objects.values_list("body", flat=True)) == ["hello"]

    dispute(chat)

    async def join():
        admin, _ = await open_socket(chat.ws, admin_page)
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await admin.send_json_to({"type": "message", "body": "Support here: what happened?"})
        frames = [await c.receive_json_from(timeout=5) for c in (shipper, courier, admin)]
        for c in (admin, shipper, courier):
            await c.disconnect()
        return frames

    frames = async_to_sync(join)()
    assert {f["body"] for f in frames} == {"Support here: what happened?"}
    assert {f["sender_role"] for f in frames} == {"support"}


# --- masking -------------------------------------------------------------------------------------
def test_frames_mask_contacts_until_the_shipper_shares_them(chat):
    async def run():
        shipper, _ = await open_socket(token_path(chat.ws, chat.shipper))
        courier, _ = await open_socket(token_path(chat.ws, chat.courier))
        await courier.send_json_to({"type": "message", "body": "I'm on +49 176 1234567"})
        masked = await shipper.receive_json_from(timeout=5)
        await courier.receive_json_from(timeout=5)

        await database_sync_to_async(services.conversation_set_share_contacts)(
            delivery=chat.delivery, actor=chat.shipper, share=True
        )
        changed = await courier.receive_json_from(timeout=5)
        await shipper.receive_json_from(timeout=5)
        await courier.send_json_to({"type": "message", "body": "mail kurt@example.com"})
        plain = await shipper.receive_json_from(timeout=5)
        await shipper.disconnect()
        await courier.disconnect()
        return masked, changed, plain

    masked, changed, plain = async_to_sync(run)()
    assert masked["body"] == "I'm on [phone hidden]"
    assert changed == {"type": "conversation", "share_contacts": True}
    assert plain["body"] == "mail kurt@example.com"
    assert Message.objects.first().body == "I'm on +49 176 1234567"  # stored as written
