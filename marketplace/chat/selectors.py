"""Reads for the chat: who may see and write in a delivery's conversation, and its history.

Who:
    the parcel's shipper and the delivery's courier read and write while the conversation is open;
    staff read every conversation and write only while the parcel's payment is disputed;
    everyone else gets "no such conversation" (404 in the API, 4403 on the socket).
When:
    open while the delivery is under way and for CHAT_CLOSE_DAYS after its hand-over; a cancelled
    or reassigned delivery's conversation is read-only at once. An open dispute on the parcel's
    payment reopens it, so staff can ask both parties and they can answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.chat.masking import mask_contacts
from marketplace.chat.models import Conversation, Message, ReadReceipt
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.payments.models import Payment, PaymentStatus

SHIPPER, COURIER, SUPPORT = "shipper", "courier", "support"
# A cancelled or handed-back delivery's conversation takes no new messages.
ENDED_STATUSES = frozenset({DeliveryStatus.CANCELLED, DeliveryStatus.REASSIGNED})


@dataclass(frozen=True)
class ChatAccess:
    """What one user may do in one delivery's conversation right now."""

    role: str  # SHIPPER, COURIER or SUPPORT (staff who are not a party)
    closed: bool
    disputed: bool
    closes_at: datetime | None

    @property
    def is_party(self) -> bool:
        return self.role != SUPPORT

    @property
    def is_live(self) -> bool:
        """Messages can still be written in it (by someone): worth a live connection."""
        return self.disputed or not self.closed

    @property
    def can_post(self) -> bool:
        if self.role == SUPPORT:
            return self.disputed
        return self.is_live

    def refusal(self) -> ApplicationError | None:
        """Why this user may not post now, as the error to raise (None: they may)."""
        if self.can_post:
            return None
        if self.role == SUPPORT and not self.closed:
            return NotAllowedError(
                gettext(
                    "Staff can write in a conversation only while the parcel's payment is disputed."
                ),
                code="read_only",
            )
        return ConflictError(
            gettext("This conversation is closed to new messages. Its history stays readable."),
            code="conversation_closed",
        )


def chat_group(delivery_id: int) -> str:
    """The channel-layer group of a delivery's conversation."""
    return f"chat-{delivery_id}"


def chat_delivery(*, delivery_id: int) -> Delivery | None:
    return (
        Delivery.objects.select_related("parcel__shipper", "courier").filter(pk=delivery_id).first()
    )


def role_in(*, delivery: Delivery, user: Any) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    if delivery.parcel.shipper_id == user.pk:
        return SHIPPER
    if delivery.courier_id == user.pk:
        return COURIER
    if user.is_staff:
        return SUPPORT
    return None


def dispute_open(*, parcel_id: int) -> bool:
    return Payment.objects.filter(parcel_id=parcel_id, status=PaymentStatus.DISPUTED).exists()


def conversation_closes_at(*, delivery: Delivery) -> datetime | None:
    """When the conversation stops taking messages (None: not decided while under way)."""
    if delivery.status in ENDED_STATUSES:
        return delivery.updated_at
    if delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at is not None:
        return delivery.delivered_at + timedelta(days=settings.CHAT_CLOSE_DAYS)
    return None


def chat_access(*, delivery: Delivery, user: Any, now: datetime | None = None) -> ChatAccess | None:
    """The user's access to the delivery's conversation; None for strangers."""
    role = role_in(delivery=delivery, user=user)
    if role is None:
        return None
    closes_at = conversation_closes_at(delivery=delivery)
    closed = closes_at is not None and (now or timezone.now()) >= closes_at
    return ChatAccess(
        role=role,
        closed=closed,
        disputed=dispute_open(parcel_id=delivery.parcel_id),
        closes_at=closes_at,
    )


def conversation_of(*, delivery: Delivery) -> Conversation | None:
    return Conversation.objects.filter(delivery=delivery).first()


def messages_of(
    *, delivery: Delivery, since_id: int | None = None, before_id: int | None = None
) -> QuerySet[Message]:
    """The conversation's messages (any order: the caller paginates by id)."""
    messages = Message.objects.filter(conversation__delivery=delivery).select_related("sender")
    if since_id is not None:
        messages = messages.filter(pk__gt=since_id)
    if before_id is not None:
        messages = messages.filter(pk__lt=before_id)
    return messages


def messages_latest(*, delivery: Delivery, limit: int) -> tuple[list[Message], bool]:
    """The last `limit` messages, oldest first, and whether older ones exist."""
    rows = list(messages_of(delivery=delivery).order_by("-pk")[: limit + 1])
    return rows[:limit][::-1], len(rows) > limit


def last_read_ids(*, delivery: Delivery) -> dict[int, int]:
    """User id -> the last message id they have read."""
    return dict(
        ReadReceipt.objects.filter(conversation__delivery=delivery).values_list(
            "user_id", "last_read_message_id"
        )
    )


def unread_count(*, delivery: Delivery, user: Any) -> int:
    last_read = last_read_ids(delivery=delivery).get(user.pk, 0)
    return messages_of(delivery=delivery, since_id=last_read).exclude(sender_id=user.pk).count()


def sender_role(*, delivery: Delivery, sender_id: int) -> str:
    if sender_id == delivery.parcel.shipper_id:
        return SHIPPER
    if sender_id == delivery.courier_id:
        return COURIER
    return SUPPORT


def message_data(message: Message, *, delivery: Delivery, share_contacts: bool) -> dict[str, Any]:
    """A message as every client sees it (WebSocket frame, REST, web page), contacts masked
    unless the shipper shares them."""
    return {
        "id": message.pk,
        "sender_id": message.sender_id,
        "sender_name": message.sender.get_short_name(),
        "sender_role": sender_role(delivery=delivery, sender_id=message.sender_id),
        "body": message.body if share_contacts else mask_contacts(message.body),
        "image_url": message.image.url if message.image else None,
        "created_at": message.created_at.isoformat(),
    }


def conversation_state(*, delivery: Delivery, user: Any, access: ChatAccess) -> dict[str, Any]:
    """What a client needs besides the messages: its role, whether it may write, receipts."""
    conversation = conversation_of(delivery=delivery)
    receipts = last_read_ids(delivery=delivery)
    return {
        "delivery_id": delivery.pk,
        "parcel_id": delivery.parcel_id,
        "shipper_id": delivery.parcel.shipper_id,
        "courier_id": delivery.courier_id,
        "role": access.role,
        "can_post": access.can_post,
        "closed": access.closed,
        "disputed": access.disputed,
        "closes_at": access.closes_at,
        "share_contacts": bool(conversation and conversation.share_contacts),
        "last_read_message_id": receipts.get(user.pk, 0),
        "read_by": {
            str(uid): receipts.get(uid, 0)
            for uid in (delivery.parcel.shipper_id, delivery.courier_id)
        },
        "unread": unread_count(delivery=delivery, user=user),
    }
