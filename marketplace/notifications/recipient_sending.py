"""Sending one recorded recipient message (notifications.recipients records them)."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from marketplace.notifications import sms
from marketplace.notifications.models import Channel, RecipientMessage


def recipient_message_send(message_id: int) -> str:
    """Send one recorded message unless it went already; a failure is kept on the row and
    raised, so the task retries."""
    failure: Exception | None = None
    with transaction.atomic():
        message = RecipientMessage.objects.select_for_update().get(pk=message_id)
        if message.sent_at is not None:
            return "already sent"
        message.attempts += 1
        try:
            if message.channel == Channel.EMAIL:
                send_mail(message.subject, message.body, None, [message.to])
            else:
                sms.provider().send(to=message.to, body=f"{message.subject} {message.body}")
        except Exception as exc:  # kept on the row, raised once the row is saved
            failure = exc
            message.error = str(exc)[:300]
            message.save(update_fields=["attempts", "error"])
        else:
            message.sent_at = timezone.now()
            message.error = ""
            message.save(update_fields=["attempts", "error", "sent_at"])
    if failure is not None:
        raise failure
    return "sent"
