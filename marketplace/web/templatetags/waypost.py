"""Template helpers of the shipper site."""

from django import template

from marketplace.core.money import format_money
from marketplace.core.sizes import SIZE_DIMENSIONS_CM

register = template.Library()


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """`{{ parcel.price_total|money:parcel.currency }}` -> `12.50 EUR`."""
    if amount_minor is None or not currency:
        return ""
    return format_money(amount_minor, currency)


@register.filter
def kg(grams: int | None) -> str:
    """`{{ parcel.weight_grams|kg }}` -> `2.5 kg`."""
    if grams is None:
        return ""
    return f"{grams / 1000:g} kg"


@register.filter
def km(metres: int | None) -> str:
    if metres is None:
        return ""
    return f"{metres / 1000:.1f} km"


@register.filter
def dimensions(size_class: str) -> str:
    """`{{ parcel.size_class|dimensions }}` -> `45 x 35 x 20 cm`."""
    dims = SIZE_DIMENSIONS_CM.get(size_class)
    return " x ".join(str(d) for d in dims) + " cm" if dims else ""


@register.filter
def co2_kg(grams: int | None) -> str:
    """`{{ delivery.co2_saved_grams|co2_kg }}` -> `3.7 kg`."""
    if grams is None:
        return ""
    return f"{max(grams, 0) / 1000:.1f} kg"


@register.filter
def star_row(stars: int | None) -> str:
    """`{{ 4|star_row }}` -> `★★★★☆`."""
    if not stars:
        return ""
    return "★" * stars + "☆" * (5 - stars)


@register.filter
def minus(value: int | None, other: int | None) -> int:
    """`{{ payment.amount|minus:payment.amount_refunded }}` (integers, e.g. minor units)."""
    return (value or 0) - (other or 0)


@register.filter
def requirement(code: str) -> str:
    """A Stripe requirement as a person reads it: `individual.verification.document` ->
    `Individual: verification document`; `external_account` -> `Bank account`."""
    names = {"external_account": "Bank account", "tos_acceptance.date": "Accept Stripe's terms"}
    if code in names:
        return names[code]
    head, _, rest = code.replace("_", " ").partition(".")
    text = f"{head}: {rest.replace('.', ' ')}" if rest else head
    return text[:1].upper() + text[1:]
