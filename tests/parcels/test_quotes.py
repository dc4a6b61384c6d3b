from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.parcels.quotes import quote_price
from tests.factories.geo import ALEXANDERPLATZ, offset, pt

NOW = timezone.now()


@pytest.fixture(autouse=True)
def tariff(settings):
    settings.MARKETPLACE_CURRENCY = "EUR"
    settings.QUOTE_BASE_FEE = 300
    settings.QUOTE_PER_KM = 60
    settings.QUOTE_PER_KG = 20
    settings.QUOTE_MINIMUM = 500
    settings.QUOTE_PLATFORM_FEE_PERCENT = 20


def quote(km: float, size: str = "S", grams: int = 1000, lead: timedelta = timedelta(days=2)):
    return quote_price(
        pickup=pt(ALEXANDERPLATZ),
        dropoff=pt(offset(ALEXANDERPLATZ, north_m=km * 1000)),
        size_class=size,
        weight_grams=grams,
        delivery_window_end=NOW + lead,
        now=NOW,
    )


def test_price_is_base_plus_distance_plus_weight_times_factors():
    q = quote(10, size="M", grams=5000)
    # (300 + 60 * 10 + 20 * 5) * 1.3 = 1300
    assert q.distance_m == 10_000
    assert q.price_total == 1300
    assert q.platform_fee == 260
    assert q.courier_share == 1040
    assert q.currency == "EUR"


def test_fee_and_share_always_add_up_to_the_price():
    for km in (0.3, 1.7, 4.44, 12.3, 29.9):
        for size in ("S", "M", "L", "XL"):
            q = quote(km, size=size, grams=1234)
            assert q.platform_fee + q.courier_share == q.price_total
            assert q.platform_fee >= 0 and q.courier_share > 0


def test_minimum_price_applies_to_short_light_deliveries():
    q = quote(0.5, grams=100)
    assert q.price_total == 500
    assert (q.platform_fee, q.courier_share) == (100, 400)


def test_urgency_raises_the_price():
    relaxed = quote(20, lead=timedelta(days=3))
    same_day = quote(20, lead=timedelta(hours=10))
    rush = quote(20, lead=timedelta(hours=2))
    assert (relaxed.urgency_factor, same_day.urgency_factor, rush.urgency_factor) == (
        Decimal("1.0"),
        Decimal("1.2"),
        Decimal("1.5"),
    )
    # (300 + 1200 + 20) = 1520 -> 1824 -> 2280
    assert (relaxed.price_total, same_day.price_total, rush.price_total) == (1520, 1824, 2280)


def test_bigger_size_costs_more():
    prices = [quote(8, size=s).price_total for s in ("S", "M", "L", "XL")]
    assert prices == sorted(prices) and len(set(prices)) == 4


def test_rounding_is_half_up_in_minor_units(settings):
    settings.QUOTE_PLATFORM_FEE_PERCENT = 15
    q = quote(10, size="S", grams=1500)  # 300 + 600 + 30 = 930; fee 139.5 -> 140
    assert q.price_total == 930
    assert q.platform_fee == 140
    assert q.courier_share == 790


def test_currency_comes_from_settings(settings):
    settings.MARKETPLACE_CURRENCY = "JPY"
    assert quote(5).currency == "JPY"
