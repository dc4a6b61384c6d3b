import pytest

from marketplace.core.money import format_money, minor_exponent


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1250, "EUR", "12.50 EUR"),
        (1250, "jpy", "1,250 JPY"),
        (1250, "KWD", "1.250 KWD"),
        (5, "USD", "0.05 USD"),
    ],
)
def test_format_money_respects_minor_units(amount, currency, text):
    assert format_money(amount, currency) == text


def test_minor_exponent():
    assert [minor_exponent(c) for c in ("EUR", "JPY", "BHD")] == [2, 0, 3]
