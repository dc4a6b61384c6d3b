"""Tell a parcel's recipient, with the public tracking link, that a courier is assigned, has
picked the parcel up or is arriving (notifications.recipients sends the messages). Test-mode
parcels tell no one: their recipients are made up."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation

from marketplace.deliveries.models import Delivery
from marketplace.notifications.models import RecipientMessage
from marketplace.notifications.recipients import recipient_messages_record
from marketplace.tracking.models import TrackingLink


def _when(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def recipient_tell(
    *, delivery: Delivery, event: str, eta: datetime | None = None
) -> list[RecipientMessage]:
    parcel = delivery.parcel
    if parcel.is_test or parcel.is_return:
        return []
    link, _ = TrackingLink.objects.get_or_create(delivery=delivery)
    url = settings.SITE_URL.rstrip("/") + reverse("tracking:public_track", args=[link.token])
    sender = parcel.merchant.name if parcel.merchant else parcel.pickup_contact_name
    with translation.override(parcel.recipient_language or None):  # dates in their language
        window_start = _when(parcel.delivery_window_start)
        window_end = _when(parcel.delivery_window_end)
    return recipient_messages_record(
        parcel_id=parcel.pk,
        delivery_id=delivery.pk,
        event=event,
        email=parcel.recipient_email,
        phone=parcel.dropoff_contact_phone,
        language=parcel.recipient_language,
        context={
            "recipient": parcel.dropoff_contact_name,
            "sender": sender,
            "courier": delivery.courier.get_short_name(),
            "description": parcel.description,
            "window_start": window_start,
            "window_end": window_end,
            "eta": timezone.localtime(eta).strftime("%H:%M") if eta else "",
            "code_needed": parcel.pin_required,
            "tracking_url": url,
        },
    )
