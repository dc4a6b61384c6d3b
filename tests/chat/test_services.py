"""The chat's rules through its services: who may write when, limits, photos, masking,
notifications and read receipts."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from PIL import Image

from marketplace.chat import selectors, services
from marketplace.chat.models import Conversation, Message, ReadReceipt
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    NotFoundError,
    TooManyAttemptsError,
)
from marketplace.lifecycle.cancelling import delivery_cancel_by_courier
from marketplace.notifications.models import Notification
from tests.chat.conftest import delivered_days_ago, dispute, image_upload

pytestmark = pytest.mark.django_db


def post(chat, sender=None, body="Hello", **kwargs):
    return services.message_post(
        delivery=chat.delivery, sender=sender or chat.shipper, body=body, **kwargs
    )


# --- who may write, and when ----------------------------------------------------------------------
def test_the_first_message_opens_the_conversation(chat):
    assert not Conversation.objects.exists()
    message = post(chat, body="  Ring twice, please.\r\n  ")
    assert message.conversation.delivery == chat.delivery
    assert message.body == "Ring twice, please."
    reply = post(chat, chat.courier, "Will do")
    assert Conversation.objects.count() == 1 and reply.conversation == message.conversation


def test_a_stranger_cannot_write_and_nothing_is_stored(chat, stranger):
    with pytest.raises(NotFoundError):
        post(chat, stranger)
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_staff_read_only_until_the_payment_is_disputed(chat, staff):
    with pytest.raises(NotAllowedError) as exc:
        post(chat, staff, "Hello from support")
    assert exc.value.code == "read_only"
    assert not Message.objects.exists()

    dispute(chat)
    message = post(chat, staff, "Hello from support")
    data = selectors.message_data(message, delivery=chat.delivery, share_contacts=False)
    assert data["sender_role"] == "support" and data["sender_name"] == "Ada"


def test_open_for_the_close_days_after_delivery_then_closed(chat, settings):
    settings.CHAT_CLOSE_DAYS = 7
    delivered_days_ago(chat, 6.9)
    assert post(chat, chat.courier, "Enjoy!")

    chat.delivery.delivered_at -= timedelta(days=0.2)  # 7.1 days ago
    chat.delivery.save(update_fields=["delivered_at"])
    access = selectors.chat_access(delivery=chat.delivery, user=chat.shipper)
    assert access.closed and not access.can_post
    assert access.closes_at == chat.delivery.delivered_at + timedelta(days=7)
    with pytest.raises(ConflictError) as exc:
        post(chat, chat.shipper, "One more thing")
    assert exc.value.code == "conversation_closed"
    assert Message.objects.count() == 1


def test_a_cancelled_delivery_is_read_only_at_once(chat):
    post(chat, chat.courier, "On my way")
    delivery_cancel_by_courier(delivery=chat.delivery, actor=chat.courier, reason="Flat tyre")
    chat.delivery.refresh_from_db()
    with pytest.raises(ConflictError):
        post(chat, chat.shipper, "Why?")
    # Its history stays readable.
    assert list(selectors.messages_of(delivery=chat.delivery)) == list(Message.objects.all())


def test_a_dispute_reopens_a_closed_conversation_for_everyone(chat, staff):
    delivered_days_ago(chat, 30)
    dispute(chat)
    post(chat, staff, "What happened to the parcel?")
    post(chat, chat.courier, "I handed it over at the door.")
    post(chat, chat.shipper, "It never arrived.")
    assert Message.objects.count() == 3


# --- limits ---------------------------------------------------------------------------------------
def test_message_length_limit(chat, settings):
    settings.CHAT_MAX_LENGTH = 20
    assert post(chat, body="x" * 20)
    with pytest.raises(ApplicationError) as exc:
        post(chat, body="x" * 21)
    assert exc.value.code == "too_long" and "body" in exc.value.fields
    assert Message.objects.count() == 1


def test_empty_messages_are_refused_and_control_characters_dropped(chat):
    with pytest.raises(ApplicationError) as exc:
        post(chat, body=" \n\x00 ")
    assert exc.value.code == "empty"
    assert post(chat, body="a\x00b\x07c\td").body == "abc\td"


def test_rate_limit_per_user_across_conversations(chat, settings):
    settings.CHAT_RATE_LIMIT = 3
    for n in range(3):
        post(chat, chat.courier, f"message {n}")
    with pytest.raises(TooManyAttemptsError) as exc:
        post(chat, chat.courier, "one too many")
    assert exc.value.code == "rate_limited" and exc.value.status_code == 429
    assert 1 <= exc.value.extra["retry_after"] <= settings.CHAT_RATE_WINDOW_SECONDS
    assert Message.objects.filter(sender=chat.courier).count() == 3
    # Someone else is not held back; and once the window has passed, the courier may write again.
    assert post(chat, chat.shipper, "fine")
    Message.objects.filter(sender=chat.courier).update(
        created_at=Message.objects.get(body="fine").created_at - timedelta(minutes=2)
    )
    assert post(chat, chat.courier, "back again")


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_under_concurrent_posts(chat, settings):
    # Given a limit of 5 and 10 posts from the same user at the same moment
    settings.CHAT_RATE_LIMIT = 5
    start = threading.Barrier(10)
    outcomes: list[str] = []

    def send(n: int) -> None:
        try:
            start.wait()
            post(chat, chat.courier, f"burst {n}")
            outcomes.append("ok")
        except TooManyAttemptsError:
            outcomes.append("limited")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly 5 are stored
    assert sorted(outcomes) == ["limited"] * 5 + ["ok"] * 5
    assert Message.objects.filter(sender=chat.courier).count() == 5


# --- photos ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_photos_of_the_allowed_types_are_stored_under_a_random_name(chat, fmt):
    message = post(chat, body="", image=image_upload(fmt, name="my-street-42.bin"))
    ext = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[fmt]
    assert message.image.name.startswith("chat/") and message.image.name.endswith(ext)
    assert "my-street" not in message.image.name
    with Image.open(message.image.path) as stored:
        assert stored.format == fmt


def test_photo_metadata_is_dropped(chat):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPSInfo: latitude
    message = post(chat, body="Here", image=image_upload("JPEG", exif=exif.tobytes()))
    with Image.open(message.image.path) as stored:
        assert not stored.getexif()


@pytest.mark.parametrize(
    "upload",
    [
        pytest.param(lambda: image_upload("GIF"), id="gif"),
        pytest.param(lambda: image_upload("BMP"), id="bmp"),
        pytest.param(
            lambda: image_upload("PNG").__class__("x.jpg", b"not an image", "image/jpeg"),
            id="text-named-jpg",
        ),
    ],
)
def test_other_files_are_refused(chat, upload):
    with pytest.raises(ApplicationError) as exc:
        post(chat, body="look", image=upload())
    assert exc.value.code == "invalid_image" and "image" in exc.value.fields
    assert not Message.objects.exists()


def test_a_photo_over_the_upload_limit_is_refused(chat, settings):
    upload = image_upload("PNG", side=64)
    settings.MAX_UPLOAD_BYTES = upload.size - 1
    with pytest.raises(ApplicationError) as exc:
        post(chat, body="", image=upload)
    assert exc.value.code == "image_too_large"
    assert not Message.objects.exists()


# --- masking --------------------------------------------------------------------------------------
def test_contacts_are_stored_as_written_and_masked_when_shown_unless_shared(chat):
    message = post(chat, chat.courier, "Call +49 30 1234567 or mail kurt@example.com")
    assert message.body == "Call +49 30 1234567 or mail kurt@example.com"

    def shown():
        share = selectors.conversation_of(delivery=chat.delivery).share_contacts
        return selectors.message_data(message, delivery=chat.delivery, share_contacts=share)["body"]

    assert shown() == "Call [phone hidden] or mail [email hidden]"
    services.conversation_set_share_contacts(delivery=chat.delivery, actor=chat.shipper, share=True)
    assert shown() == "Call +49 30 1234567 or mail kurt@example.com"
    services.conversation_set_share_contacts(
        delivery=chat.delivery, actor=chat.shipper, share=False
    )
    assert shown() == "Call [phone hidden] or mail [email hidden]"


def test_only_the_shipper_shares_contacts(chat, staff):
    for someone in (chat.courier, staff):
        with pytest.raises(NotAllowedError):
            services.conversation_set_share_contacts(
                delivery=chat.delivery, actor=someone, share=True
            )
    assert not Conversation.objects.filter(share_contacts=True).exists()


# --- notifications and read receipts --------------------------------------------------------------
def test_the_other_party_is_notified_once_per_unread_streak(chat):
    first = post(chat, chat.courier, "I am at the door: +49 30 1234567")
    post(chat, chat.courier, "Hello?")

    notes = Notification.objects.filter(kind="chat_message")
    assert [(n.user, n.data["message_id"]) for n in notes] == [(chat.shipper, first.pk)]
    note = notes.get()
    assert note.body == "Kurt: I am at the door: [phone hidden]"
    assert note.data["url"] == f"/deliveries/{chat.delivery.pk}/chat/"
    assert mail.outbox == []  # chat messages are never emailed

    # When the shipper reads, the notification is read too, and the next message notifies again
    last = services.messages_mark_read(delivery=chat.delivery, user=chat.shipper, message_id=10**9)
    assert last == Message.objects.latest("id").pk
    note.refresh_from_db()
    assert note.read_at is not None
    post(chat, chat.courier, "Left it with the neighbour")
    assert Notification.objects.filter(kind="chat_message", user=chat.shipper).count() == 2


def test_staff_messages_notify_both_parties(chat, staff):
    dispute(chat)
    post(chat, staff, "Please both send photos.")
    users = set(Notification.objects.filter(kind="chat_message").values_list("user", flat=True))
    assert users == {chat.shipper.pk, chat.courier.pk}


def test_read_receipts_only_move_forward(chat):
    ids = [post(chat, chat.courier, f"m{n}").pk for n in range(3)]
    read = services.messages_mark_read
    assert read(delivery=chat.delivery, user=chat.shipper, message_id=ids[1]) == ids[1]
    assert read(delivery=chat.delivery, user=chat.shipper, message_id=ids[0]) == ids[1]
    assert selectors.unread_count(delivery=chat.delivery, user=chat.shipper) == 1
    # Writing means having read what came before.
    own = post(chat, chat.shipper, "ok").pk
    receipt = ReadReceipt.objects.get(user=chat.shipper)
    assert receipt.last_read_message_id == own


def test_reading_an_empty_conversation_changes_nothing(chat, stranger):
    assert services.messages_mark_read(delivery=chat.delivery, user=chat.shipper, message_id=5) == 0
    assert not Conversation.objects.exists()
    with pytest.raises(NotFoundError):
        services.messages_mark_read(delivery=chat.delivery, user=stranger, message_id=1)
