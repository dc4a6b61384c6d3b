"""Tell a parcel's recipient, with the public tracking link, that a courier is assigned, has
picked the parcel up or is arriving (notifications.recipients sends the messages). Test-mode
parcels tell no one: their recipients are made up."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation

from marketplace.core.languages import spoken_language
from marketplace.core.timezones import in_zone_of, local_clock
from marketplace.deliveries.models import Delivery
from marketplace.notifications.models import RecipientMessage
from marketplace.notifications.recipients import recipient_messages_record
from marketplace.tracking.models import TrackingLink


def _when(value: datetime) -> str:
    """A date and time in the active zone and language, naming the zone."""
    local = timezone.localtime(value)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


def recipient_tell(
    *, delivery: Delivery, event: str, eta: datetime | None = None
) -> list[RecipientMessage]:
    parcel = delivery.parcel
    if parcel.is_test or parcel.is_return:
        return []
    link, _ = TrackingLink.objects.get_or_create(delivery=delivery)
    url = settings.SITE_URL.rstrip("/") + reverse("tracking:public_track", args=[link.token])
    sender = parcel.merchant.name if parcel.merchant else parcel.pickup_contact_name
    # Dates in the recipient's language; times in the sender's zone (the recipient has no
    # account: the shipper's zone is the best guess of where the parcel goes).
    with (
        translation.override(spoken_language(parcel.recipient_language)),
        in_zone_of(parcel.shipper),
    ):
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
            "eta": local_clock(eta, parcel.shipper) if eta else "",
            "code_needed": parcel.pin_required,
            "tracking_url": url,
        },
    )
