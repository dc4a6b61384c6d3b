"""The shipper's parcels: dashboard, post, detail (live status), edit, cancel, codes, rating,
quote."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from marketplace.core.exceptions import ApplicationError
from marketplace.core.money import format_money
from marketplace.deliveries.models import DeliveryStatus
from marketplace.deliveries.selectors import delivery_of_parcel
from marketplace.deliveries.services import delivery_reissue_code, rating_create
from marketplace.lifecycle.cancelling import parcel_cancel as parcel_cancel_service
from marketplace.lifecycle.posting import parcel_create as parcel_create_service
from marketplace.lifecycle.posting import parcel_update
from marketplace.parcels import selectors
from marketplace.parcels.models import PARCEL_TRANSITIONS, Parcel, ParcelStatus
from marketplace.parcels.options import option_labels
from marketplace.parcels.quotes import quote_price
from marketplace.payments.models import PaymentStatus
from marketplace.payments.selectors import payment_of_parcel
from marketplace.web import selectors as web_selectors
from marketplace.web.forms import (
    CancelForm,
    ParcelForm,
    QuoteForm,
    RatingForm,
    TipForm,
)
from marketplace.web.selectors import return_panel
from marketplace.web.views.common import (
    current_user,
    own_parcel,
    shipper_parcel,
    shipper_required,
)

PARCELS_PER_PAGE = 10
# How often an open or moving parcel's page asks for its status (static/js/parcel-live.js).
STATUS_REFRESH_SECONDS = 10
CODE_KINDS = ("pickup", "delivery")
# A tip is booked against the parcel's payment: only while that payment holds or paid out money.
TIPPABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.RELEASED})


def _can_cancel(parcel: Parcel) -> bool:
    return ParcelStatus.CANCELLED in PARCEL_TRANSITIONS.get(parcel.status, frozenset())


@shipper_required
def dashboard(request: HttpRequest) -> HttpResponse:
    parcels = selectors.parcels_of_shipper(shipper=current_user(request))
    page = Paginator(parcels, PARCELS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "parcels": page.object_list,
        "payments_required": settings.PAYMENTS_REQUIRED,
    }
    return render(request, "web/dashboard.html", context)


def _default_windows(now: datetime) -> dict[str, datetime]:
    """Pickup in the next hours, delivery by tomorrow: a starting point the shipper edits."""
    start = timezone.localtime(now).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "pickup_window_start": start,
        "pickup_window_end": start + timedelta(hours=3),
        "delivery_window_start": start + timedelta(hours=1),
        "delivery_window_end": start + timedelta(days=1),
    }


@shipper_required
def parcel_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ParcelForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                parcel = parcel_create_service(
                    shipper=current_user(request), **form.parcel_fields()
                )
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                if parcel.status == ParcelStatus.DRAFT and settings.PAYMENTS_REQUIRED:
                    messages.success(
                        request,
                        gettext(
                            "Your parcel is saved. Pay for it to publish it: couriers see it "
                            "once it is paid."
                        ),
                    )
                    return redirect("web:parcel_pay", pk=parcel.pk)
                messages.success(
                    request, gettext("Your parcel is posted: couriers can now see it.")
                )
                return redirect("web:parcel_detail", pk=parcel.pk)
    else:
        form = ParcelForm(initial=_default_windows(timezone.now()))
    return render(
        request,
        "web/parcel_form.html",
        {"form": form, "parcel": None, "payments_required": settings.PAYMENTS_REQUIRED},
    )


def _detail_context(
    request: HttpRequest, parcel: Parcel, *, rating_form: RatingForm | None = None
) -> dict[str, Any]:
    """What the parcel page and its status fragment show. Codes and the rating form only ever
    go to the parcel's shipper; staff see the rest."""
    is_owner = parcel.shipper_id == current_user(request).pk
    status = web_selectors.parcel_status_view(parcel=parcel)
    if rating_form is None and is_owner and status.can_rate:
        rating_form = RatingForm()
    return {
        "parcel": parcel,
        "parcel_options": option_labels(parcel),
        "status": status,
        "delivery": status.delivery,
        "is_owner": is_owner,
        "can_edit": parcel.is_editable,
        "can_cancel": _can_cancel(parcel),
        "cancel_form": CancelForm(),
        "rating_form": rating_form if is_owner else None,
        "live_url": reverse("web:parcel_status", args=[parcel.pk]) if is_owner else "",
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "pay_url": reverse("web:parcel_pay", args=[parcel.pk]) if parcel_payable(parcel) else "",
    }


def parcel_payable(parcel: Parcel) -> bool:
    """A draft waits for its payment before couriers see it (PAYMENTS_REQUIRED)."""
    return settings.PAYMENTS_REQUIRED and parcel.status == ParcelStatus.DRAFT


def _render_detail(
    request: HttpRequest,
    parcel: Parcel,
    *,
    rating_form: RatingForm | None = None,
    tip_form: TipForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _detail_context(request, parcel, rating_form=rating_form)
    context["map_points"] = {
        "pickup": [parcel.pickup_point.y, parcel.pickup_point.x],
        "dropoff": [parcel.dropoff_point.y, parcel.dropoff_point.x],
    }
    payment = payment_of_parcel(parcel_id=parcel.pk)
    delivery = context["delivery"]
    can_tip = bool(
        context["is_owner"]
        and delivery is not None
        and delivery.status == DeliveryStatus.DELIVERED
        and payment is not None
        and payment.status in TIPPABLE
    )
    context.update(
        payment=payment,
        tips=web_selectors.tips_of_delivery(delivery=delivery) if delivery else [],
        tip_form=(tip_form or TipForm(currency=parcel.currency)) if can_tip else None,
    )
    if can_tip:
        context.update(stripe_context())
    context.update(return_panel(parcel=parcel, is_owner=context["is_owner"]))
    return render(request, "web/parcel_detail.html", context, status=status)


def stripe_context() -> dict[str, Any]:
    """What a page with a card field needs: Stripe.js from settings (localstripe's stand-in in
    development and tests) and the publishable key."""
    key = str(settings.STRIPE_PUBLISHABLE_KEY)
    return {
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_config": {"publishableKey": key},
        "stripe_test_mode": key.startswith("pk_test_"),
    }


@shipper_required
def parcel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, shipper_parcel(request, pk))


@require_GET
@never_cache
@shipper_required
def parcel_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live parts of the parcel page as an HTML fragment, for its auto-refresh."""
    parcel = own_parcel(request, pk)
    return render(request, "web/_parcel_live.html", _detail_context(request, parcel))


@shipper_required
def parcel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    parcel = shipper_parcel(request, pk)  # its shipper's, or any for staff
    if not parcel.is_editable:
        messages.error(
            request,
            gettext("This parcel is %(lower)s: it can be edited only while it is a draft or open.")
            % {"lower": parcel.get_status_display().lower()},
        )
        return redirect("web:parcel_detail", pk=parcel.pk)
    if request.method == "POST":
        form = ParcelForm(request.POST, request.FILES, instance=parcel)
        if form.is_valid():
            changes = form.changed_parcel_fields()
            if not changes:
                messages.info(request, gettext("Nothing changed."))
                return redirect("web:parcel_detail", pk=parcel.pk)
            try:
                parcel = parcel_update(parcel=parcel, actor=current_user(request), **changes)
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, gettext("Your changes are saved."))
                return redirect("web:parcel_detail", pk=parcel.pk)
    else:
        form = ParcelForm(instance=parcel)
    return render(request, "web/parcel_form.html", {"form": form, "parcel": parcel})


@require_POST
@shipper_required
def parcel_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    parcel = shipper_parcel(request, pk)
    form = CancelForm(request.POST)
    if not _can_cancel(parcel):
        messages.error(
            request,
            gettext("This parcel is %(lower)s: it can no longer be cancelled.")
            % {"lower": parcel.get_status_display().lower()},
        )
    elif not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("reason", [])))
    else:
        try:
            parcel = parcel_cancel_service(
                parcel=parcel,
                actor=current_user(request),
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            delivery = delivery_of_parcel(parcel=parcel)
            fee = delivery.cancellation_fee if delivery else 0
            if fee:
                messages.success(
                    request,
                    gettext(
                        "The parcel is cancelled. Your courier was already on the way, so "
                        "%(format_money)s of the price goes to them as a cancellation fee."
                    )
                    % {"format_money": format_money(fee, parcel.currency)},
                )
            else:
                messages.success(request, gettext("The parcel is cancelled."))
    return redirect("web:parcel_detail", pk=parcel.pk)


@require_POST
@shipper_required
def parcel_reissue_code(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """A new pickup or delivery code (after the courier was locked out, or a code leaked)."""
    parcel = own_parcel(request, pk)
    if kind not in CODE_KINDS:
        raise Http404("No such code.")
    delivery = delivery_of_parcel(parcel=parcel)
    if delivery is None:
        messages.error(
            request, gettext("No courier has taken this parcel yet: there is no code to renew.")
        )
        return redirect("web:parcel_detail", pk=parcel.pk)
    try:
        delivery_reissue_code(delivery=delivery, actor=current_user(request), kind=kind)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            gettext("Here is a new %(kind)s code. The old one no longer works.") % {"kind": kind},
        )
    return redirect(reverse("web:parcel_detail", args=[parcel.pk]) + "#codes")


@require_POST
@shipper_required
def parcel_rate(request: HttpRequest, pk: int) -> HttpResponse:
    """The shipper rates the courier once the parcel is delivered."""
    parcel = own_parcel(request, pk)
    delivery = delivery_of_parcel(parcel=parcel)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, parcel, rating_form=form, status=400)
    if delivery is None:
        messages.error(request, gettext("Ratings open once the parcel is delivered."))
    else:
        try:
            rating_create(
                delivery=delivery,
                rater=current_user(request),
                stars=form.cleaned_data["stars"],
                comment=form.cleaned_data["comment"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, gettext("Thank you for rating your courier."))
    return redirect(reverse("web:parcel_detail", args=[parcel.pk]) + "#rating")


@require_POST
@shipper_required
def parcel_quote(request: HttpRequest) -> JsonResponse:
    """The price of a parcel before it is posted, for the form's "Get a quote" button."""
    form = QuoteForm(request.POST)
    if not form.is_valid():
        message = gettext(
            "Place both points on the map and fill in size, weight and delivery time."
        )
        return JsonResponse({"ok": False, "message": message, "errors": form.errors}, status=400)
    data = form.cleaned_data
    quote = quote_price(
        pickup=data["pickup_point"],
        dropoff=data["dropoff_point"],
        size_class=data["size_class"],
        weight_grams=data["weight_grams"],
        delivery_window_end=data["delivery_window_end"],
    )
    return JsonResponse(
        {
            "ok": True,
            "quote": quote.as_dict(),
            "display": {
                "price_total": format_money(quote.price_total, quote.currency),
                "platform_fee": format_money(quote.platform_fee, quote.currency),
                "courier_share": format_money(quote.courier_share, quote.currency),
                "distance_km": f"{quote.distance_m / 1000:.1f} km",
            },
        }
    )
