"""The price quote: what a delivery costs, split into the platform's fee and the courier's share.

price = max(minimum, (base + per_km * km + per_kg * kg) * size factor * urgency factor)
platform fee = price * fee percent, rounded half up; courier share = price - platform fee.

All amounts are integer minor units of MARKETPLACE_CURRENCY; the tariff comes from settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from marketplace.core.geo import haversine_m
from marketplace.core.money import round_minor
from marketplace.core.sizes import SizeClass

SIZE_FACTOR: dict[str, Decimal] = {
    SizeClass.S: Decimal("1.0"),
    SizeClass.M: Decimal("1.3"),
    SizeClass.L: Decimal("1.7"),
    SizeClass.XL: Decimal("2.5"),
}
# (deadline within, factor): the sooner the delivery window closes, the more it costs.
URGENCY_STEPS: tuple[tuple[timedelta, Decimal], ...] = (
    (timedelta(hours=4), Decimal("1.5")),
    (timedelta(hours=24), Decimal("1.2")),
)


@dataclass(frozen=True)
class Quote:
    currency: str
    distance_m: int
    size_factor: Decimal
    urgency_factor: Decimal
    price_total: int
    platform_fee: int
    courier_share: int
    valid_until: datetime

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size_factor"] = str(self.size_factor)
        data["urgency_factor"] = str(self.urgency_factor)
        return data


def urgency_factor(*, delivery_window_end: datetime, now: datetime) -> Decimal:
    lead = delivery_window_end - now
    for within, factor in URGENCY_STEPS:
        if lead <= within:
            return factor
    return Decimal("1.0")


def quote_price(
    *,
    pickup: Point,
    dropoff: Point,
    size_class: str,
    weight_grams: int,
    delivery_window_end: datetime,
    now: datetime | None = None,
) -> Quote:
    now = now or timezone.now()
    distance_m = round(haversine_m(pickup, dropoff))
    raw = (
        Decimal(settings.QUOTE_BASE_FEE)
        + Decimal(settings.QUOTE_PER_KM) * Decimal(distance_m) / 1000
        + Decimal(settings.QUOTE_PER_KG) * Decimal(weight_grams) / 1000
    )
    size = SIZE_FACTOR[size_class]
    urgency = urgency_factor(delivery_window_end=delivery_window_end, now=now)
    total = max(settings.QUOTE_MINIMUM, round_minor(raw * size * urgency))
    fee = round_minor(Decimal(total) * settings.QUOTE_PLATFORM_FEE_PERCENT / 100)
    return Quote(
        currency=settings.MARKETPLACE_CURRENCY,
        distance_m=distance_m,
        size_factor=size,
        urgency_factor=urgency,
        price_total=total,
        platform_fee=fee,
        courier_share=total - fee,
        valid_until=now + timedelta(minutes=settings.QUOTE_VALIDITY_MINUTES),
    )
