"""Money is an integer number of minor units plus an ISO 4217 currency code."""

from copy import copy
from decimal import ROUND_HALF_UP, Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import parse_pattern
from django.conf import settings
from django.utils import translation

# Currencies whose minor unit is the unit itself (Stripe's list of zero-decimal currencies).
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def _locale(language: str | None) -> Locale:
    code = (language or translation.get_language() or settings.LANGUAGE_CODE).replace("-", "_")
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(settings.LANGUAGE_CODE)


def format_money(amount_minor: int, currency: str, *, language: str | None = None) -> str:
    """An amount as a reader of `language` (default: the active one) writes it, with CLDR's
    symbol and pattern (Babel): `format_money(1250, "EUR")` -> "€12.50" in English, "12,50 €"
    in German and French (with a no-break space). The number of decimals is ours
    (`minor_exponent`), which is Stripe's."""
    code = currency.upper()
    exponent = minor_exponent(code)
    value = Decimal(amount_minor).scaleb(-exponent)
    locale = _locale(language)
    pattern = copy(parse_pattern(locale.currency_formats["standard"].pattern))
    pattern.frac_prec = (exponent, exponent)
    return pattern.apply(value, locale, currency=code, currency_digits=False)


def round_minor(value: Decimal) -> int:
    """Round half up to a whole number of minor units."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
