import pytest
from django.utils import translation

from marketplace.core.money import format_money, minor_exponent

NBSP = "\xa0"  # CLDR puts a no-break space between a German or French amount and its symbol
NNBSP = "\u202f"  # and French groups thousands with a narrow one


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1250, "EUR", "€12.50"),
        (1250, "jpy", "¥1,250"),
        (1250, "KWD", "KWD1.250"),
        (5, "USD", "$0.05"),
        (123456789, "EUR", "€1,234,567.89"),
    ],
)
def test_format_money_respects_minor_units(amount, currency, text):
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(
    ("language", "text", "big"),
    [
        ("en", "€12.50", "€1,234,567.89"),
        ("de", f"12,50{NBSP}€", f"1.234.567,89{NBSP}€"),
        ("fr", f"12,50{NBSP}€", f"1{NNBSP}234{NNBSP}567,89{NBSP}€"),
    ],
)
def test_money_is_written_as_the_readers_language_writes_it(language, text, big):
    with translation.override(language):
        assert format_money(1250, "EUR") == text
        assert format_money(123456789, "EUR") == big
    assert format_money(1250, "EUR", language=language) == text


def test_minor_exponent():
    assert [minor_exponent(c) for c in ("EUR", "JPY", "BHD")] == [2, 0, 3]
