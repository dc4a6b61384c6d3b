"""Writes for parcels: create, edit while open, publish, and the one status transition.

Every status change goes through `parcel_transition`, which locks the row, checks the move
against PARCEL_TRANSITIONS and writes a ParcelEvent. These change parcels only: what follows in
other apps (matching, the delivery, the payment, a return) is `marketplace.lifecycle`'s, which
calls them. Lock order across the codebase: parcel, then trip, then payment.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core import metrics
from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.core.geo import haversine_m
from marketplace.core.money import format_money
from marketplace.core.sizes import SizeClass
from marketplace.core.state_machine import check_transition
from marketplace.parcels import held_quotes, options
from marketplace.parcels.models import PARCEL_TRANSITIONS, Parcel, ParcelEvent, ParcelStatus
from marketplace.parcels.quotes import quote_price

MAX_WEIGHT_GRAMS = 200_000
MIN_DISTANCE_M = 50
MAX_DISTANCE_M = 300_000
MAX_DECLARED_VALUE = 100_000_000
# Fields that change the price: editing them re-quotes the parcel.
PRICED_FIELDS = frozenset(
    {"pickup_point", "dropoff_point", "size_class", "weight_grams", "delivery_window_end"}
)
# Fields that change which trips fit: editing them withdraws the offers and re-matches.
MATCHED_FIELDS = PRICED_FIELDS | {
    "pickup_window_start",
    "pickup_window_end",
    "delivery_window_start",
}
EDITABLE_FIELDS = frozenset(
    {
        "description",
        "size_class",
        "weight_grams",
        "declared_value",
        "photo",
        "pickup_point",
        "pickup_address",
        "pickup_contact_name",
        "pickup_contact_phone",
        "pickup_window_start",
        "pickup_window_end",
        "dropoff_point",
        "dropoff_address",
        "dropoff_contact_name",
        "dropoff_contact_phone",
        "delivery_window_start",
        "delivery_window_end",
    }
)
# Delivery options, set at creation (validated with the other fields by validate_parcel_fields).
OPTION_FIELDS = frozenset(options.OPTION_FIELDS)
# Set once, when a merchant's system creates the parcel (marketplace.lifecycle.ordering).
MERCHANT_FIELDS = frozenset({"merchant", "external_reference", "is_test", "sandbox_outcome"})
CREATE_FIELDS = EDITABLE_FIELDS | OPTION_FIELDS | MERCHANT_FIELDS


def validate_parcel_fields(
    values: dict[str, Any], *, now: datetime | None = None, creating: bool = False
) -> None:
    """Check a parcel's fields together (and, `creating`, its delivery options); raise one
    ApplicationError naming every bad field."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = options.option_problems(values) if creating else {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if values["size_class"] not in SizeClass.values:
        add(
            "size_class",
            gettext("Unknown size class; choose one of %(join)s.")
            % {"join": ", ".join(SizeClass.values)},
        )
    weight = values["weight_grams"]
    if not isinstance(weight, int) or weight <= 0:
        add("weight_grams", gettext("Weight must be a positive number of grams."))
    elif weight > MAX_WEIGHT_GRAMS:
        add(
            "weight_grams",
            gettext("Weight may be at most %(value)s kg.") % {"value": MAX_WEIGHT_GRAMS // 1000},
        )
    value = values["declared_value"]
    cover = min(MAX_DECLARED_VALUE, options.cover_limit())
    if not isinstance(value, int) or value < 0 or value > cover:
        limit = format_money(cover, settings.MARKETPLACE_CURRENCY)
        add(
            "declared_value",
            gettext("Declared value must be between 0 and %(limit)s.") % {"limit": limit},
        )

    p_start, p_end = values["pickup_window_start"], values["pickup_window_end"]
    d_start, d_end = values["delivery_window_start"], values["delivery_window_end"]
    if p_end <= p_start:
        add("pickup_window_end", gettext("The pickup window must end after it starts."))
    if d_end <= d_start:
        add("delivery_window_end", gettext("The delivery window must end after it starts."))
    if d_end <= p_start:
        add(
            "delivery_window_end",
            gettext("The delivery window must end after the pickup window starts."),
        )
    if p_end <= now:
        add("pickup_window_end", gettext("The pickup window has already closed."))
    if p_start > now + timedelta(days=60):
        add("pickup_window_start", gettext("Pickups can be booked at most 60 days ahead."))

    pickup: Point = values["pickup_point"]
    dropoff: Point = values["dropoff_point"]
    distance = haversine_m(pickup, dropoff)
    if distance < MIN_DISTANCE_M:
        add(
            "dropoff_point",
            gettext("Drop-off must be at least %(MIN_DISTANCE_M)s m from pickup.")
            % {"MIN_DISTANCE_M": MIN_DISTANCE_M},
        )
    elif distance > MAX_DISTANCE_M:
        add(
            "dropoff_point",
            gettext("Drop-off may be at most %(value)s km from pickup.")
            % {"value": MAX_DISTANCE_M // 1000},
        )

    photo = values.get("photo")
    if isinstance(photo, UploadedFile) and photo.size and photo.size > settings.MAX_UPLOAD_BYTES:
        add(
            "photo",
            gettext("The photo may be at most %(value)s MB.")
            % {"value": format(settings.MAX_UPLOAD_BYTES / (1024 * 1024), "g")},
        )

    if errors:
        raise ApplicationError(
            gettext("The parcel has invalid fields."), code="invalid", fields=errors
        )


def _apply_quote(parcel: Parcel) -> None:
    quote = quote_price(
        pickup=parcel.pickup_point,
        dropoff=parcel.dropoff_point,
        size_class=parcel.size_class,
        weight_grams=parcel.weight_grams,
        delivery_window_end=parcel.delivery_window_end,
    )
    parcel.currency = quote.currency
    parcel.distance_m = quote.distance_m
    parcel.price_total = quote.price_total
    parcel.platform_fee = quote.platform_fee
    parcel.courier_share = quote.courier_share


def _require_shipper(user: User) -> None:
    if not user.is_shipper:
        raise ApplicationError(
            gettext("Only shippers can post parcels. Add the shipper role to your profile."),
            code="not_a_shipper",
        )


@transaction.atomic
def parcel_create(
    *, shipper: User, is_return: bool = False, quote_id: Any = None, **fields: Any
) -> Parcel:
    """Create a draft parcel with its quote (`is_return`: the way back of another parcel). With
    a `quote_id` (a held quote, parcels.held_quotes) the parcel pays the held price; the quote
    is locked and marked used in this transaction."""
    _require_shipper(shipper)
    unknown = set(fields) - CREATE_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Unknown parcel fields: %(join)s.") % {"join": ", ".join(sorted(unknown))}
        )
    fields.setdefault("photo", None)
    validate_parcel_fields(fields, creating=True)
    held = None
    if quote_id is not None:
        held = held_quotes.held_quote_claim(
            quote_id=quote_id, shipper=shipper, merchant=fields.get("merchant"), fields=fields
        )
    parcel = Parcel(shipper=shipper, status=ParcelStatus.DRAFT, **fields)
    if held is None:
        _apply_quote(parcel)
    else:
        held_quotes.held_quote_apply(held, parcel)
    parcel.save()
    if held is not None:
        held_quotes.held_quote_mark_used(held, parcel)
    if is_return:
        # Flagged after the insert, as the returns flow always did: the row is created as any
        # shipper's draft, then marked as a way back.
        Parcel.objects.filter(pk=parcel.pk).update(is_return=True)
        parcel.is_return = True
    ParcelEvent.objects.create(
        parcel=parcel,
        from_status="",
        to_status=ParcelStatus.DRAFT,
        actor=shipper,
        note=gettext_noop("Created"),
    )
    metrics.count_on_commit(metrics.PARCELS_CREATED)
    return parcel


def parcel_lock(parcel_id: int) -> Parcel:
    """Lock a parcel's row (the first lock of every flow that moves it)."""
    return Parcel.objects.select_for_update().get(pk=parcel_id)


def parcels_lock(parcel_ids: list[int]) -> list[Parcel]:
    """Lock several parcels in one statement, in id order (the codebase's order among parcels)."""
    return list(Parcel.objects.select_for_update().filter(pk__in=parcel_ids).order_by("pk"))


def _lock(parcel: Parcel) -> Parcel:
    return parcel_lock(parcel.pk)


def parcel_require_owner(*, parcel: Parcel, actor: User) -> None:
    """The shipper's own parcel, or staff acting for them."""
    if not actor.is_staff:
        _require_owner(parcel, actor)


def _require_owner(parcel: Parcel, actor: User) -> None:
    if parcel.shipper_id != actor.pk:
        raise ApplicationError(gettext("This is not your parcel."), code="not_owner")


@transaction.atomic
def parcel_update(*, parcel: Parcel, actor: User, **changes: Any) -> Parcel:
    """Edit a parcel while it is a draft or open; price-relevant changes re-quote it. Its
    shipper edits it, and staff may edit any parcel (to fix a typo a shipper reports). Whether
    the open parcel must be matched again is `parcel_changes_matching(changes)`."""
    parcel = _lock(parcel)
    if not actor.is_staff:
        _require_owner(parcel, actor)
    if not parcel.is_editable:
        raise ConflictError(
            gettext("A parcel can be edited only while draft or open; this one is %(status)s.")
            % {"status": parcel.status},
            code="not_editable",
        )
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("These fields cannot be changed: %(join)s.")
            % {"join": ", ".join(sorted(unknown))}
        )
    values = {name: getattr(parcel, name) for name in EDITABLE_FIELDS} | changes
    validate_parcel_fields(values)
    for name, value in changes.items():
        setattr(parcel, name, value)
    if PRICED_FIELDS & set(changes):
        _apply_quote(parcel)
    parcel.save()
    return parcel


def parcel_changes_matching(changes: dict[str, Any]) -> bool:
    """Whether these edits change which trips fit the parcel (its offers are then stale)."""
    return bool(MATCHED_FIELDS & set(changes))


@transaction.atomic
def parcel_transition(
    *, parcel: Parcel, to_status: str, actor: User | None, note: str = ""
) -> Parcel:
    """Move a parcel to `to_status` if the table allows it, with an audit event."""
    parcel = _lock(parcel)
    check_transition(
        table=PARCEL_TRANSITIONS, current=parcel.status, target=to_status, label="parcel"
    )
    from_status = parcel.status
    parcel.status = to_status
    update_fields = ["status", "updated_at"]
    if to_status == ParcelStatus.OPEN and parcel.published_at is None:
        parcel.published_at = timezone.now()
        update_fields.append("published_at")
    parcel.save(update_fields=update_fields)
    ParcelEvent.objects.create(
        parcel=parcel, from_status=from_status, to_status=to_status, actor=actor, note=note[:500]
    )
    metrics.count_on_commit(metrics.PARCEL_STATUS_CHANGES, to_status=to_status)
    return parcel


def parcel_check_publishable(*, parcel: Parcel, actor: User) -> None:
    """May the shipper publish this (locked) draft now? With PAYMENTS_REQUIRED, paying publishes
    it (lifecycle.paying)."""
    _require_owner(parcel, actor)
    if settings.PAYMENTS_REQUIRED:
        raise ConflictError(
            gettext("Pay for the parcel to publish it (POST /api/v1/parcels/<id>/payment/)."),
            code="payment_required",
        )
    validate_parcel_fields({name: getattr(parcel, name) for name in EDITABLE_FIELDS})


# A courier is assigned to (or carries) the parcel: cancelling goes through its delivery.
WITH_COURIER = frozenset(
    {
        ParcelStatus.MATCHED,
        ParcelStatus.PICKED_UP,
        ParcelStatus.IN_TRANSIT,
        ParcelStatus.DELIVERY_FAILED,
    }
)
