"""One conversation per delivery, between the parcel's shipper and the delivery's courier.

Staff read every conversation and write in one while the parcel's payment is disputed. The rules
(who may write, when a conversation closes, masking, rate limits) live in services.py and
selectors.py; these are the rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.core.models import TimeStampedModel


class Conversation(TimeStampedModel):
    """Created by the first message (or the shipper's contact choice), never up front."""

    delivery = models.OneToOneField(
        "deliveries.Delivery", on_delete=models.PROTECT, related_name="conversation"
    )
    share_contacts = models.BooleanField(
        default=False,
        help_text="Set by the shipper: show phone numbers and email addresses in messages "
        "(otherwise they are masked when messages are shown).",
    )

    def __str__(self) -> str:
        return f"Chat of delivery #{self.delivery_id}"


class Message(models.Model):
    """Stored as written; contact details are masked when a message is shown (see masking.py)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_messages"
    )
    body = models.TextField(blank=True)
    image = models.ImageField(upload_to="chat/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "id"], name="chat_message_conversation_id"),
            # The per-user rate limit counts a sender's recent messages.
            models.Index(fields=["sender", "created_at"], name="chat_message_sender_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(body="") | ~Q(image=""), name="chat_message_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk} in {self.conversation_id} by {self.sender_id}"


class ReadReceipt(models.Model):
    """How far a user has read a conversation; only ever moves forward."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="receipts"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_message_id = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="chat_receipt_one_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} up to {self.last_read_message_id}"
