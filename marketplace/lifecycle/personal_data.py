"""A person's own data, to download (issue 14, "Personal data"): their profile and everything
they posted, carried, paid, received, said and sent, as JSON in a ZIP with the photos they
uploaded.

Only rows that are the person's own are exported (their parcels, trips, messages, payments,
ratings given and received, the positions their phone sent), and in them any reference to
another account is blanked: the export tells nothing about anyone else. Secrets are left out
(password hash, pickup and delivery codes, signing secrets, tracking tokens).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry
from django.db import models
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from psycopg.types.range import Range

from marketplace.accounts.models import CourierProfile, User
from marketplace.chat.models import Message
from marketplace.deliveries.models import Delivery, Rating
from marketplace.matching.models import Offer
from marketplace.merchants.models import MerchantMember
from marketplace.notifications.models import Notification
from marketplace.parcels.models import Parcel, ParcelEvent
from marketplace.payments.models import BankPayout, ConnectedAccount, Payment, Refund, Tip, Transfer
from marketplace.returns.models import ParcelReturn
from marketplace.tracking.models import LocationPing
from marketplace.trips.models import Trip, TripSeries

FORMAT_VERSION = 1
# Never exported, whoever owns the row: credentials and one-time secrets.
SECRET_FIELDS = frozenset(
    {"password", "pickup_code", "delivery_code", "secret", "token", "stripe_client_secret"}
)
USER_FIELDS = (
    "id", "email", "full_name", "phone", "is_shipper", "is_courier", "time_zone", "date_joined",
    "last_login",
)  # fmt: skip


def _sections(user: User) -> dict[str, Callable[[], Iterable[models.Model]]]:
    """Each part of the export: the rows that are this person's own."""
    mine = {"parcel__shipper": user}
    return {
        "courier_profile": lambda: CourierProfile.objects.filter(user=user),
        "merchant_memberships": lambda: MerchantMember.objects.filter(user=user),
        "parcels": lambda: Parcel.objects.filter(shipper=user),
        "parcel_history": lambda: ParcelEvent.objects.filter(**mine),
        "trip_series": lambda: TripSeries.objects.filter(courier=user),
        "trips": lambda: Trip.objects.filter(courier=user),
        "offers": lambda: Offer.objects.filter(courier=user),
        "deliveries": lambda: Delivery.objects.filter(Q(courier=user) | Q(**mine)),
        "ratings_given": lambda: Rating.objects.filter(rater=user),
        "ratings_received": lambda: Rating.objects.filter(ratee=user),
        "payments": lambda: Payment.objects.filter(shipper=user),
        "refunds": lambda: Refund.objects.filter(payment__shipper=user),
        "tips": lambda: Tip.objects.filter(shipper=user),
        "payout_account": lambda: ConnectedAccount.objects.filter(courier=user),
        "transfers": lambda: Transfer.objects.filter(courier=user),
        "bank_payouts": lambda: BankPayout.objects.filter(account__courier=user),
        "chat_messages": lambda: Message.objects.filter(sender=user),
        "notifications": lambda: Notification.objects.filter(user=user),
        "positions": lambda: LocationPing.objects.filter(delivery__courier=user),
        "returns": lambda: ParcelReturn.objects.filter(requester=user),
    }


def _value(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        return json.loads(value.geojson)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, Range):
        return {"lower": _value(value.lower), "upper": _value(value.upper), "bounds": value.bounds}
    return value


def _row(obj: models.Model, user: User) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        if field.is_relation and field.related_model is get_user_model():
            owner = getattr(obj, field.attname)
            row[field.name] = owner if owner == user.pk else None  # someone else: blanked
            continue
        key = field.attname if field.is_relation else field.name
        row[key] = _value(getattr(obj, field.attname if field.is_relation else field.name))
    return row


def personal_data_export(*, user: User) -> dict[str, Any]:
    """Everything about `user` that is theirs, as JSON-ready data."""
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "profile": {name: _value(getattr(user, name)) for name in USER_FIELDS},
    }
    for name, rows in _sections(user).items():
        data[name] = [_row(obj, user) for obj in rows()]
    return data


def _own_files(user: User) -> Iterable[FieldFile]:
    for parcel in Parcel.objects.filter(shipper=user).exclude(photo=""):
        yield parcel.photo
    for message in Message.objects.filter(sender=user).exclude(image=""):
        yield message.image


def personal_data_zip(*, user: User) -> bytes:
    """The export as a ZIP: `data.json` and, under `files/`, the photos the person uploaded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "data.json", json.dumps(personal_data_export(user=user), indent=2, ensure_ascii=False)
        )
        for file in _own_files(user):
            try:
                with file.open("rb") as handle:
                    archive.writestr(f"files/{file.name}", handle.read())
            except FileNotFoundError:
                continue  # the row outlived its file (a purged upload): the name is in data.json
    return buffer.getvalue()


def personal_data_download(*, user: User) -> tuple[str, bytes]:
    """(file name, ZIP bytes) of the person's export, for the web page and the API."""
    return f"waypost-data-{user.pk}-{timezone.now():%Y%m%d}.zip", personal_data_zip(user=user)
