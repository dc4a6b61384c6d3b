"""Quotes that hold: a price promised for QUOTE_VALIDITY_MINUTES (`POST /api/v1/quotes/`).

A delivery created with the quote's id, by whoever asked for it (the shipper, or any key of the
merchant), for the same points (within QUOTE_POINT_TOLERANCE_M), size and weight, pays exactly
the quoted price, even if the tariff changed meanwhile. A quote is used at most once: its row is
locked while the delivery is created, so two deliveries cannot both claim it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ConflictError, NotFoundError
from marketplace.core.geo import haversine_m
from marketplace.merchants.models import Merchant
from marketplace.parcels.models import HeldQuote, Parcel
from marketplace.parcels.quotes import Quote, quote_price

# Points may move this little between the quote and the delivery (a geocoder's rounding).
QUOTE_POINT_TOLERANCE_M = 50


@transaction.atomic
def held_quote_create(
    *,
    requested_by: User | None,
    merchant: Merchant | None,
    pickup: Point,
    dropoff: Point,
    size_class: str,
    weight_grams: int,
    delivery_window_end: Any,
) -> tuple[HeldQuote, Quote]:
    """Price a delivery and keep the price until `expires_at`."""
    quote = quote_price(
        pickup=pickup,
        dropoff=dropoff,
        size_class=size_class,
        weight_grams=weight_grams,
        delivery_window_end=delivery_window_end,
    )
    held = HeldQuote.objects.create(
        requested_by=requested_by,
        merchant=merchant,
        pickup_point=pickup,
        dropoff_point=dropoff,
        size_class=size_class,
        weight_grams=weight_grams,
        currency=quote.currency,
        distance_m=quote.distance_m,
        price_total=quote.price_total,
        platform_fee=quote.platform_fee,
        courier_share=quote.courier_share,
        expires_at=timezone.now() + timedelta(minutes=settings.QUOTE_VALIDITY_MINUTES),
    )
    return held, quote


def held_quote_claim(
    *, quote_id: Any, shipper: User, merchant: Merchant | None, fields: dict[str, Any]
) -> HeldQuote:
    """Lock the quote for the delivery being created from `fields` (in the caller's
    transaction) and check it may be used: 404 quote_not_found, 409 quote_expired, quote_used,
    quote_mismatch."""
    try:
        key = uuid.UUID(str(quote_id))
    except ValueError as exc:
        raise NotFoundError(gettext("No such quote."), code="quote_not_found") from exc
    quote = HeldQuote.objects.select_for_update().filter(pk=key).first()
    if quote is None or not _may_use(quote, shipper=shipper, merchant=merchant):
        raise NotFoundError(gettext("No such quote."), code="quote_not_found")
    if quote.parcel_id is not None:
        raise ConflictError(
            gettext("This quote was already used for a delivery."),
            code="quote_used",
            extra={"parcel_id": quote.parcel_id},
        )
    if quote.expires_at <= timezone.now():
        raise ConflictError(
            gettext("This quote has expired; ask for a new one."),
            code="quote_expired",
            extra={"expired_at": quote.expires_at.isoformat()},
        )
    mismatched = _mismatches(quote, fields)
    if mismatched:
        raise ConflictError(
            gettext("The delivery differs from the quote in: %(join)s.")
            % {"join": ", ".join(mismatched)},
            code="quote_mismatch",
            extra={"fields": mismatched},
        )
    return quote


def _may_use(quote: HeldQuote, *, shipper: User, merchant: Merchant | None) -> bool:
    if quote.merchant_id is not None:
        return merchant is not None and quote.merchant_id == merchant.pk
    return quote.requested_by_id == shipper.pk


def _mismatches(quote: HeldQuote, fields: dict[str, Any]) -> list[str]:
    wrong = []
    for name in ("pickup_point", "dropoff_point"):
        if haversine_m(getattr(quote, name), fields[name]) > QUOTE_POINT_TOLERANCE_M:
            wrong.append(name)
    for name in ("size_class", "weight_grams"):
        if getattr(quote, name) != fields[name]:
            wrong.append(name)
    return wrong


def held_quote_apply(quote: HeldQuote, parcel: Parcel) -> None:
    """The parcel pays the held price (set before its insert)."""
    parcel.currency = quote.currency
    parcel.distance_m = quote.distance_m
    parcel.price_total = quote.price_total
    parcel.platform_fee = quote.platform_fee
    parcel.courier_share = quote.courier_share


def held_quote_mark_used(quote: HeldQuote, parcel: Parcel) -> None:
    quote.parcel = parcel
    quote.save(update_fields=["parcel", "updated_at"])
