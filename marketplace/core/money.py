"""Money is an integer number of minor units plus an ISO 4217 currency code."""

from decimal import ROUND_HALF_UP, Decimal

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


def format_money(amount_minor: int, currency: str) -> str:
    """`format_money(1250, "EUR")` -> `"12.50 EUR"`."""
    exponent = minor_exponent(currency)
    value = Decimal(amount_minor).scaleb(-exponent)
    return f"{value:,.{exponent}f} {currency.upper()}"


def round_minor(value: Decimal) -> int:
    """Round half up to a whole number of minor units."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
