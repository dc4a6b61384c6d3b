"""Reads for parcels, always filtered by who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from marketplace.accounts.models import User
from marketplace.merchants.models import Merchant
from marketplace.parcels.models import Parcel, ParcelStatus


def parcels_of_shipper(*, shipper: User) -> QuerySet[Parcel]:
    return Parcel.objects.filter(shipper=shipper).order_by("-created_at")


def parcel_get_for_shipper(*, shipper: User, pk: int) -> Parcel:
    """The shipper's own parcel (or any, for staff); Parcel.DoesNotExist otherwise."""
    qs = Parcel.objects.all() if shipper.is_staff else Parcel.objects.filter(shipper=shipper)
    return qs.get(pk=pk)


def parcels_open_for_couriers(*, courier: User) -> QuerySet[Parcel]:
    """Open parcels a courier may browse: never their own. Addresses are hidden by the caller
    (the courier serializer shows only an approximate area until assignment)."""
    return (
        Parcel.objects.filter(status=ParcelStatus.OPEN)
        .exclude(shipper=courier)
        .order_by("pickup_window_start", "id")
    )


def parcels_of_merchant(*, merchant: Merchant, is_test: bool) -> QuerySet[Parcel]:
    """A merchant's deliveries of one mode: a test key never sees live ones, nor the reverse."""
    return Parcel.objects.filter(merchant=merchant, is_test=is_test).order_by("-created_at", "-id")


def parcel_of_merchant(*, merchant: Merchant, is_test: bool, pk: Any) -> Parcel | None:
    try:
        return parcels_of_merchant(merchant=merchant, is_test=is_test).filter(pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


def parcel_by_external_reference(*, merchant: Merchant, external_reference: str) -> Parcel | None:
    return Parcel.objects.filter(merchant=merchant, external_reference=external_reference).first()
