"""Messages to a parcel's recipient, who has no account: an e-mail with the tracking link (and a
text message through notifications.sms) when a courier is assigned, when the parcel is picked up
and when the courier is arriving. A template per event (templates/notifications/recipient/
<event>.txt: the first line is the subject), in the recipient's language when one is given and
the site speaks it (locale/<code>/LC_MESSAGES/django.po), else the operator's.

Recorded in the caller's transaction, sent by a task after commit, each once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from marketplace.core.languages import spoken_language
from marketplace.core.transactions import enqueue_on_commit
from marketplace.notifications.models import Channel, RecipientMessage
from marketplace.notifications.tasks import send_recipient_message

EVENTS = ("assigned", "picked_up", "arriving")


def _render(event: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """The recipient's language when the site speaks it (settings.LANGUAGES), else the
    operator's: templates/notifications/recipient/<event>.txt through the catalogs."""
    with translation.override(spoken_language(language)):
        text = render_to_string(f"notifications/recipient/{event}.txt", context)
    subject, _, body = text.strip().partition("\n")
    return subject.strip()[:200], body.strip()


def recipient_messages_record(
    *,
    parcel_id: int,
    delivery_id: int,
    event: str,
    email: str,
    phone: str,
    language: str,
    context: dict[str, Any],
) -> list[RecipientMessage]:
    """Record this event's messages (none twice) and send them after commit."""
    assert event in EVENTS, event
    subject, body = _render(event, language, context)
    targets = []
    if email:
        targets.append((Channel.EMAIL, email))
    if phone and settings.RECIPIENT_SMS:
        targets.append((Channel.SMS, phone))
    made = []
    for channel, to in targets:
        message, created = RecipientMessage.objects.get_or_create(
            key=f"{delivery_id}:{event}:{channel}",
            defaults={
                "parcel_id": parcel_id,
                "event": event,
                "channel": channel,
                "to": to,
                "language": language,
                "subject": subject,
                "body": body,
            },
        )
        if created:
            enqueue_on_commit(send_recipient_message, message.pk)
            made.append(message)
    return made
