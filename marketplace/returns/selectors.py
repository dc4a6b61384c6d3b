"""Reads for returns: the window, the parcel's current return, and who may see which."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns.models import LIVE_STATUSES, ParcelReturn


def delivered_at(*, parcel: Parcel) -> datetime | None:
    return (
        Delivery.objects.filter(parcel=parcel, status=DeliveryStatus.DELIVERED)
        .values_list("delivered_at", flat=True)
        .first()
    )


def parcel_was_delivered(*, parcel: Parcel) -> bool:
    """Was the parcel delivered once (as against a failed delivery sent back)?"""
    return Delivery.objects.filter(parcel=parcel, status=DeliveryStatus.DELIVERED).exists()


def return_of_reverse(*, parcel: Parcel) -> ParcelReturn | None:
    """The return whose way back this (reverse) parcel is."""
    return ParcelReturn.objects.filter(reverse=parcel).first()


def return_window_closes_at(*, parcel: Parcel) -> datetime | None:
    """The last moment a return of this delivered parcel may be asked; None if not delivered."""
    at = delivered_at(parcel=parcel)
    return at + timedelta(days=settings.RETURN_WINDOW_DAYS) if at else None


def return_current(*, parcel: Parcel) -> ParcelReturn | None:
    """The parcel's live return (asked, approved or completed), else its latest one."""
    returns = ParcelReturn.objects.filter(original=parcel).select_related("reverse")
    return returns.filter(status__in=LIVE_STATUSES).first() or returns.first()


def return_can_be_requested(*, parcel: Parcel, now: datetime | None = None) -> bool:
    """May the shipper or the recipient ask to send this parcel back now?"""
    if parcel.status != ParcelStatus.DELIVERED or parcel.is_return:
        return False
    closes = return_window_closes_at(parcel=parcel)
    if closes is None or (now or timezone.now()) > closes:
        return False
    return not ParcelReturn.objects.filter(original=parcel, status__in=LIVE_STATUSES).exists()


def returns_of_shipper(*, shipper: User) -> QuerySet[ParcelReturn]:
    qs = ParcelReturn.objects.select_related("original", "reverse").prefetch_related("photos")
    return qs if shipper.is_staff else qs.filter(original__shipper=shipper)
