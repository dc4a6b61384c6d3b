"""Writes of the chat. A message is stored first; once the transaction commits it is broadcast to
the conversation's group (`chat-<delivery_id>`) and the other party is notified. A client that was
offline fetches what it missed from the REST history (`?since_id=`).

Notifications: one `chat_message` notification per unread streak. The recipient is notified of a
message only if they had read everything the others wrote before it, so a burst of messages
becomes one notification (and chat messages are never emailed: not in notifications.EMAIL_KINDS).

Rate limit: CHAT_RATE_LIMIT messages per CHAT_RATE_WINDOW_SECONDS per user, counted in the
database under a per-user advisory lock, so concurrent posts cannot slip past the count.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.chat.masking import mask_contacts
from marketplace.chat.models import Conversation, Message, ReadReceipt
from marketplace.chat.selectors import (
    SHIPPER,
    chat_access,
    chat_group,
    message_data,
)
from marketplace.core.exceptions import (
    ApplicationError,
    NotAllowedError,
    NotFoundError,
    TooManyAttemptsError,
)
from marketplace.core.images import clean_photo
from marketplace.core.languages import in_language_of
from marketplace.core.transactions import run_on_commit_or_log
from marketplace.deliveries.models import Delivery
from marketplace.notifications.models import Notification
from marketplace.notifications.services import notifications_mark_read, notify

NOTIFICATION_KIND = "chat_message"
# Namespace of the per-user advisory locks of the rate limit ("chat" in ASCII).
RATE_LOCK_NAMESPACE = 0x63686174
PREVIEW_CHARS = 140
# Control characters other than tab and newline are dropped (PostgreSQL refuses NUL in text).
_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {127: None}


def broadcast_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send `event` to a channel-layer group once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, event)

    run_on_commit_or_log(send, "chat broadcast")


def _access_or_404(*, delivery: Delivery, user: Any) -> Any:
    access = chat_access(delivery=delivery, user=user)
    if access is None:
        raise NotFoundError(gettext("No such conversation."))
    return access


def conversation_get_or_create(*, delivery: Delivery) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(delivery=delivery)
    return conversation


def _clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL).strip()
    if len(body) > settings.CHAT_MAX_LENGTH:
        message = gettext("A message may be at most %(CHAT_MAX_LENGTH)s characters long.") % {
            "CHAT_MAX_LENGTH": settings.CHAT_MAX_LENGTH
        }
        raise ApplicationError(message, code="too_long", fields={"body": [message]})
    return body


def _rate_limit(*, user: Any) -> None:
    """Refuse the post if the user already sent CHAT_RATE_LIMIT messages in the window.
    Must run inside the posting transaction: the advisory lock is held until it ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s::int, %s::int)",
            [RATE_LOCK_NAMESPACE, user.pk % 2**31],
        )
    window = timedelta(seconds=settings.CHAT_RATE_WINDOW_SECONDS)
    now = timezone.now()
    recent = Message.objects.filter(sender=user, created_at__gt=now - window)
    if recent.count() < settings.CHAT_RATE_LIMIT:
        return
    oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
    free_at = (oldest or now) + window  # when the oldest message in the window leaves it
    wait = max(1, math.ceil((free_at - now).total_seconds()))
    raise TooManyAttemptsError(
        gettext("You are sending messages too fast. Try again in %(wait)s seconds.")
        % {"wait": wait},
        code="rate_limited",
        extra={"retry_after": wait},
    )


def _recipients(*, delivery: Delivery, sender: Any) -> list[Any]:
    parties = [delivery.parcel.shipper, delivery.courier]
    return [user for user in parties if user.pk != sender.pk]


def _notify_recipients(
    *, delivery: Delivery, conversation: Conversation, message: Message, sender: Any
) -> None:
    preview = message.body if conversation.share_contacts else mask_contacts(message.body)
    if len(preview) > PREVIEW_CHARS:
        preview = preview[: PREVIEW_CHARS - 1] + "…"
    for user in _recipients(delivery=delivery, sender=sender):
        # One query: a message from the others after the user's read receipt (or any, without
        # one) and before this one.
        last_read = ReadReceipt.objects.filter(conversation=conversation, user=user).values(
            "last_read_message_id"
        )[:1]
        already_unread = (
            Message.objects.filter(conversation=conversation, pk__lt=message.pk)
            .filter(pk__gt=Coalesce(Subquery(last_read), Value(0)))
            .exclude(sender=user)
            .exists()
        )
        if already_unread:
            continue  # they were told about this unread streak already
        with in_language_of(user):
            title = gettext("New message about parcel #%(parcel)s") % {"parcel": delivery.parcel_id}
            body = f"{sender.get_short_name()}: {preview or gettext('sent a photo')}"
        notify(
            user=user,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            data={
                "delivery_id": delivery.pk,
                "parcel_id": delivery.parcel_id,
                "message_id": message.pk,
                "url": reverse("chat:delivery_chat", args=[delivery.pk]),
            },
        )


def _advance_receipt(*, conversation: Conversation, user: Any, message_id: int) -> bool:
    receipt, _ = ReadReceipt.objects.get_or_create(conversation=conversation, user=user)
    return bool(
        ReadReceipt.objects.filter(pk=receipt.pk, last_read_message_id__lt=message_id).update(
            last_read_message_id=message_id, updated_at=timezone.now()
        )
    )


def message_post(*, delivery: Delivery, sender: Any, body: str = "", image: Any = None) -> Message:
    """Store a message from `sender` (the shipper, the courier, or staff during a dispute) and,
    after commit, broadcast it and notify the other party."""
    access = _access_or_404(delivery=delivery, user=sender)
    refusal = access.refusal()
    if refusal is not None:
        raise refusal
    body = _clean_body(body)
    picture = clean_photo(image, field="image") if image else None
    if not body and picture is None:
        why = gettext("Write a message or attach a photo.")
        raise ApplicationError(why, code="empty", fields={"body": [why]})

    with transaction.atomic():
        _rate_limit(user=sender)
        conversation = conversation_get_or_create(delivery=delivery)
        message = Message(conversation=conversation, sender=sender, body=body)
        if picture is not None:
            message.image.save(picture.name or "photo", picture, save=False)
        message.save()
        # Writing means having read what came before.
        _advance_receipt(conversation=conversation, user=sender, message_id=message.pk)
        frame = message_data(message, delivery=delivery, share_contacts=conversation.share_contacts)
        broadcast_on_commit(
            chat_group(delivery.pk), {"type": "chat.message", "frame": {"type": "message", **frame}}
        )
        _notify_recipients(
            delivery=delivery, conversation=conversation, message=message, sender=sender
        )
    return message


def messages_mark_read(*, delivery: Delivery, user: Any, message_id: int) -> int:
    """Move the user's read receipt up to `message_id` (never back). The parties' receipts are
    broadcast to the conversation; staff read silently. Returns the receipt's message id."""
    access = _access_or_404(delivery=delivery, user=user)
    with transaction.atomic():
        conversation = Conversation.objects.filter(delivery=delivery).first()
        if conversation is None:
            return 0
        last = (
            Message.objects.filter(conversation=conversation, pk__lte=message_id)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if last is not None and _advance_receipt(
            conversation=conversation, user=user, message_id=last
        ):
            if access.is_party:
                broadcast_on_commit(
                    chat_group(delivery.pk),
                    {
                        "type": "chat.read",
                        "frame": {"type": "read", "user_id": user.pk, "message_id": last},
                    },
                )
            _clear_notifications(user=user, delivery=delivery, up_to=last)
        return (
            ReadReceipt.objects.filter(conversation=conversation, user=user)
            .values_list("last_read_message_id", flat=True)
            .first()
        ) or 0


def _clear_notifications(*, user: Any, delivery: Delivery, up_to: int) -> None:
    """The chat notifications of messages the user has now read are read too."""
    ids = list(
        Notification.objects.filter(
            user=user,
            kind=NOTIFICATION_KIND,
            read_at__isnull=True,
            data__delivery_id=delivery.pk,
            data__message_id__lte=up_to,
        ).values_list("pk", flat=True)
    )
    if ids:
        notifications_mark_read(user=user, ids=ids)


@transaction.atomic
def conversation_set_share_contacts(*, delivery: Delivery, actor: Any, share: bool) -> Conversation:
    """The shipper shows (or hides again) phone numbers and emails in the whole conversation."""
    access = _access_or_404(delivery=delivery, user=actor)
    if access.role != SHIPPER:
        raise NotAllowedError(
            gettext("Only the shipper decides whether contact details are shown."),
            code="not_shipper",
        )
    conversation_get_or_create(delivery=delivery)
    conversation = Conversation.objects.select_for_update().get(delivery=delivery)
    if conversation.share_contacts != share:
        conversation.share_contacts = share
        conversation.save(update_fields=["share_contacts", "updated_at"])
        broadcast_on_commit(
            chat_group(delivery.pk),
            {
                "type": "chat.conversation",
                "frame": {"type": "conversation", "share_contacts": share},
            },
        )
    return conversation
