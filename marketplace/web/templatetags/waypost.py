"""Template helpers of the shipper site."""

from datetime import date, datetime
from decimal import Decimal

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import formats
from django.utils.translation import gettext, pgettext_lazy

from marketplace.core.money import format_money
from marketplace.core.sizes import SIZE_DIMENSIONS_CM

register = template.Library()

# The date formats of the pages, by name; each language writes them its own way (translators
# give the Django date format: https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
DATE_FORMATS = {
    "day_time": pgettext_lazy("date format, as Mon 7 Dec, 14:05", "D j M, H:i"),
    "date_time": pgettext_lazy("date format, as Mon 7 Dec 2026, 14:05", "D j M Y, H:i"),
    "day_date": pgettext_lazy("date format, as Mon 7 Dec 2026", "D j M Y"),
    "day_month": pgettext_lazy("date format, as Mon 7 Dec", "D j M"),
    "long_date": pgettext_lazy("date format, as 7 December 2026", "j F Y"),
    "stamp": pgettext_lazy("date format, as 7 Dec 2026 14:05", "j M Y H:i"),
    "stamp_seconds": pgettext_lazy("date format, as 7 Dec 2026 14:05:09", "j M Y H:i:s"),
}


@register.filter(expects_localtime=True)
def when(value: date | datetime | None, name: str) -> str:
    """`{{ parcel.pickup_window_start|when:"day_time" }}` -> "Mon 7 Dec, 14:05" in English,
    "Mo, 7. Dez, 14:05" in German: a date in the viewer's zone and language."""
    if value in (None, ""):
        return ""
    return date_filter(value, str(DATE_FORMATS[name]))


def _number(value: float | Decimal, decimals: int | None = None) -> str:
    """A number in the active language's separators: 2.5 -> "2,5" in German (Django's
    number_format cuts decimals off: callers round first)."""
    return formats.number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """`{{ parcel.price_total|money:parcel.currency }}` -> `€12.50` (`12,50 €` in German)."""
    if amount_minor is None or not currency:
        return ""
    return format_money(amount_minor, currency)


@register.filter
def kg(grams: int | None) -> str:
    """`{{ parcel.weight_grams|kg }}` -> `2.5 kg` (`2,5 kg` in German)."""
    if grams is None:
        return ""
    value = Decimal(grams).scaleb(-3).normalize()
    return f"{_number(Decimal(f'{value:f}'))} kg"


@register.filter
def km(metres: int | None) -> str:
    if metres is None:
        return ""
    return f"{_number(round(metres / 1000, 1), 1)} km"


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
    return f"{_number(round(max(grams, 0) / 1000, 1), 1)} kg"


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
    names = {
        "external_account": gettext("Bank account"),
        "tos_acceptance.date": gettext("Accept Stripe's terms"),
    }
    if code in names:
        return names[code]
    head, _, rest = code.replace("_", " ").partition(".")
    text = f"{head}: {rest.replace('.', ' ')}" if rest else head
    return text[:1].upper() + text[1:]
