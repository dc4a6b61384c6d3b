"""Reads behind the shipper's parcel page: where the parcel stands, who carries it, its history.

The page and its auto-refreshing status fragment render the same `ParcelStatusView`, so both
always say the same thing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from marketplace.deliveries.models import Delivery, DeliveryEvent, DeliveryStatus, Rating
from marketplace.deliveries.selectors import cancellation_fee_now, delivery_of_parcel
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import parcel_expiry_reason
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.models import ConnectedAccount, Tip
from marketplace.returns.selectors import (
    return_can_be_requested,
    return_current,
    return_of_reverse,
    return_window_closes_at,
)
from marketplace.web.return_forms import RefuseForm, ReturnForm

# While the parcel is in one of these, the page polls for changes; the others are at rest
# (a draft changes only by the shipper's own hand).
LIVE_STATUSES = frozenset(
    {
        ParcelStatus.OPEN,
        ParcelStatus.MATCHED,
        ParcelStatus.PICKED_UP,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.DELIVERY_FAILED,
        ParcelStatus.RETURNING,
    }
)
# A delivery step moves the parcel in the same transaction: this is the parcel status it moves
# to, so the history shows the two as one step.
PARCEL_STEP_OF_DELIVERY: dict[str, frozenset[str]] = {
    DeliveryStatus.ASSIGNED: frozenset({ParcelStatus.MATCHED}),
    DeliveryStatus.PICKED_UP: frozenset({ParcelStatus.PICKED_UP}),
    DeliveryStatus.IN_TRANSIT: frozenset({ParcelStatus.IN_TRANSIT}),
    DeliveryStatus.DELIVERED: frozenset({ParcelStatus.DELIVERED}),
    DeliveryStatus.FAILED: frozenset({ParcelStatus.DELIVERY_FAILED}),
    DeliveryStatus.CANCELLED: frozenset({ParcelStatus.CANCELLED, ParcelStatus.OPEN}),
    DeliveryStatus.REASSIGNED: frozenset({ParcelStatus.OPEN}),
}
SAME_STEP = timedelta(seconds=5)
# Parcel statuses in which the page shows the courier and the delivery.
WITH_COURIER = frozenset(
    {
        ParcelStatus.MATCHED,
        ParcelStatus.PICKED_UP,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.DELIVERED,
        ParcelStatus.DELIVERY_FAILED,
        ParcelStatus.RETURNING,
        ParcelStatus.RETURNED,
        ParcelStatus.CANCELLED,
    }
)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    source: str  # "parcel" or "delivery"
    from_label: str
    to_label: str
    to_status: str
    note: str
    courier_note: str = ""  # the courier's side of the same step (a DeliveryEvent's note)


@dataclass(frozen=True)
class ParcelStatusView:
    parcel: Parcel
    delivery: Delivery | None
    courier_first_name: str
    pending_offers: int
    given_back: bool  # a courier accepted, then gave it back to matching
    cancellation_fee: int  # minor units kept for the courier if the shipper cancelled now
    expired_reason: str
    my_rating: Rating | None
    their_rating: Rating | None
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.parcel.status in LIVE_STATUSES

    @property
    def can_rate(self) -> bool:
        return (
            self.delivery is not None
            and self.delivery.status == DeliveryStatus.DELIVERED
            and self.my_rating is None
        )

    @property
    def version(self) -> str:
        """Changes whenever anything the status fragment shows changes."""
        d = self.delivery
        state = (
            self.parcel.status,
            self.parcel.updated_at.isoformat(),
            d.pk if d else None,
            d.status if d else None,
            d.updated_at.isoformat() if d else None,
            self.pending_offers,
            self.my_rating.pk if self.my_rating else None,
            self.their_rating.pk if self.their_rating else None,
            len(self.timeline),
        )
        return hashlib.blake2s(repr(state).encode(), digest_size=8).hexdigest()


def pending_offer_count(*, parcel: Parcel) -> int:
    """How many couriers could accept the parcel right now."""
    return Offer.objects.filter(
        parcel=parcel, status=OfferStatus.PENDING, expires_at__gt=timezone.now()
    ).count()


def first_name(full_name: str) -> str:
    """The first word of a name; never the email (a courier's email stays private)."""
    parts = full_name.split()
    return parts[0] if parts else gettext("Your courier")


def _note(text: str) -> str:
    """An audit note in the reader's language when it is one of the fixed ones (marked with
    gettext_noop where they are written); notes with someone's own words stay as written."""
    return gettext(text) if text else ""


def parcel_timeline(*, parcel: Parcel) -> list[TimelineEntry]:
    """The parcel's status changes and its deliveries' steps, merged by time. A delivery step
    that moved the parcel is folded into that parcel step (its note as `courier_note`); any
    other delivery step is an entry of its own."""
    entries = [
        TimelineEntry(
            at=e.created_at,
            source="parcel",
            from_label=e.get_from_status_display() if e.from_status else "",
            to_label=e.get_to_status_display(),
            to_status=e.to_status,
            note=_note(e.note),
        )
        for e in parcel.events.all()
    ]
    folded: set[int] = set()
    for event in DeliveryEvent.objects.filter(delivery__parcel=parcel):
        steps = PARCEL_STEP_OF_DELIVERY.get(event.to_status, frozenset())
        same = next(
            (
                i
                for i, entry in enumerate(entries)
                if entry.source == "parcel"
                and i not in folded
                and entry.to_status in steps
                and abs(entry.at - event.created_at) <= SAME_STEP
            ),
            None,
        )
        if same is not None:
            folded.add(same)
            entry = entries[same]
            if event.note and _note(event.note) != entry.note:
                entries[same] = replace(entry, courier_note=_note(event.note))
            continue
        entries.append(
            TimelineEntry(
                at=event.created_at,
                source="delivery",
                from_label=event.get_from_status_display() if event.from_status else "",
                to_label=event.get_to_status_display(),
                to_status=event.to_status,
                note=_note(event.note),
            )
        )
    # At equal times the parcel's own step comes first.
    return sorted(entries, key=lambda entry: (entry.at, entry.source != "parcel"))


def _expired_reason(parcel: Parcel) -> str:
    if parcel.status != ParcelStatus.EXPIRED:
        return ""
    event = parcel.events.filter(to_status=ParcelStatus.EXPIRED).last()
    if event is None or not event.note:
        return gettext("No courier took it before the pickup window closed.")
    with translation.override(settings.LANGUAGE_CODE):
        written = parcel_expiry_reason(parcel=parcel)
    # The reason was written in the operator's language: say it in the reader's.
    return parcel_expiry_reason(parcel=parcel) if event.note == written else event.note


def parcel_status_view(*, parcel: Parcel) -> ParcelStatusView:
    latest = delivery_of_parcel(parcel=parcel)
    delivery = latest if parcel.status in WITH_COURIER else None
    given_back = (
        parcel.status == ParcelStatus.OPEN
        and latest is not None
        and latest.status in (DeliveryStatus.CANCELLED, DeliveryStatus.REASSIGNED)
    )
    my_rating = their_rating = None
    if delivery is not None and delivery.status == DeliveryStatus.DELIVERED:
        ratings = {r.rater_id: r for r in Rating.objects.filter(delivery=delivery)}
        my_rating = ratings.get(parcel.shipper_id)
        their_rating = ratings.get(delivery.courier_id)
    return ParcelStatusView(
        parcel=parcel,
        delivery=delivery,
        courier_first_name=first_name(delivery.courier.full_name) if delivery else "",
        pending_offers=(
            pending_offer_count(parcel=parcel) if parcel.status == ParcelStatus.OPEN else 0
        ),
        given_back=given_back,
        cancellation_fee=cancellation_fee_now(parcel=parcel, delivery=delivery),
        expired_reason=_expired_reason(parcel),
        my_rating=my_rating,
        their_rating=their_rating,
        timeline=parcel_timeline(parcel=parcel),
    )


# --- payments -----------------------------------------------------------------------------------


def tips_of_delivery(*, delivery: Delivery) -> list[Tip]:
    """The tips the shipper paid for this delivery (attempts that did not go through are left
    out)."""
    return list(Tip.objects.filter(delivery=delivery, succeeded=True).order_by("created_at"))


def tip_of_parcel(*, parcel: Parcel, pk: int) -> Tip | None:
    """One of the parcel's tips, by its shipper (the views pass the shipper's own parcel)."""
    return (
        Tip.objects.select_related("delivery__courier")
        .filter(pk=pk, delivery__parcel=parcel, shipper_id=parcel.shipper_id)
        .first()
    )


def connected_account_of(*, courier: Any) -> ConnectedAccount | None:
    return ConnectedAccount.objects.filter(courier=courier).first()


def return_panel(*, parcel: Parcel, is_owner: bool) -> dict[str, object]:
    """What the shipper's parcel page shows about returns: the return under way (or the one
    this parcel is), and the request form while a return may be asked."""
    current = None if parcel.is_return else return_current(parcel=parcel)
    can_request = is_owner and return_can_be_requested(parcel=parcel)
    return {
        "parcel_return": current,
        "return_of": return_of_reverse(parcel=parcel) if parcel.is_return else None,
        "return_form": ReturnForm() if can_request else None,
        "return_closes_at": return_window_closes_at(parcel=parcel) if can_request else None,
        "refuse_form": RefuseForm() if current and current.status == "requested" else None,
    }
