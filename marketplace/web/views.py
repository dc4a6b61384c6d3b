"""Pages of the shipper web site. Thin: parse a form, call one service or selector, render."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from marketplace.accounts.models import CourierProfile, User
from marketplace.accounts.services import user_register, user_update_profile
from marketplace.core.exceptions import ApplicationError
from marketplace.core.money import format_money
from marketplace.deliveries.models import DeliveryStatus
from marketplace.deliveries.selectors import delivery_of_parcel
from marketplace.deliveries.services import delivery_reissue_code, rating_create
from marketplace.parcels import selectors
from marketplace.parcels.models import PARCEL_TRANSITIONS, Parcel, ParcelStatus
from marketplace.parcels.quotes import quote_price
from marketplace.parcels.services import parcel_cancel as parcel_cancel_service
from marketplace.parcels.services import parcel_create as parcel_create_service
from marketplace.parcels.services import parcel_update
from marketplace.payments import services as payments
from marketplace.payments.api.serializers import payouts_summary
from marketplace.payments.gateway import StripeError
from marketplace.payments.models import Payment, PaymentStatus, Tip
from marketplace.payments.selectors import payment_of_parcel
from marketplace.returns.selectors import return_panel
from marketplace.web import selectors as web_selectors
from marketplace.web.forms import (
    CancelForm,
    CardTokenForm,
    EmailAuthenticationForm,
    ParcelForm,
    ProfileForm,
    QuoteForm,
    RatingForm,
    SignupForm,
    TipForm,
)

PARCELS_PER_PAGE = 10
# How often an open or moving parcel's page asks for its status (static/js/parcel-live.js).
STATUS_REFRESH_SECONDS = 10
CODE_KINDS = ("pickup", "delivery")
# A tip is booked against the parcel's payment: only while that payment holds or paid out money.
TIPPABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.RELEASED})

View = Callable[..., HttpResponse]
log = logging.getLogger(__name__)
# Shown when Stripe cannot be reached (a StripeError outside the services' own handling).
PROVIDER_DOWN = (
    "Our payment provider cannot be reached right now. Nothing was charged by this attempt; "
    "try again in a minute."
)


def shipper_required(view: View) -> View:
    """Logged in and allowed to post parcels (staff may look at every parcel)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = _user(request)
        if not (user.is_shipper or user.is_staff):
            return render(request, "web/not_shipper.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def courier_required(view: View) -> View:
    """Logged in as a courier (payouts)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _user(request).is_courier:
            return render(request, "web/not_courier.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    """The logged-in user (the views that call this require login)."""
    return cast(User, request.user)


def _get_parcel(request: HttpRequest, pk: int) -> Parcel:
    """The user's own parcel, or any parcel for staff; 404 for everyone else."""
    try:
        return selectors.parcel_get_for_shipper(shipper=_user(request), pk=pk)
    except Parcel.DoesNotExist as exc:
        raise Http404("No such parcel.") from exc


def _get_own_parcel(request: HttpRequest, pk: int) -> Parcel:
    """The user's own parcel; 404 for everyone else, staff included (codes, ratings)."""
    parcel = _get_parcel(request, pk)
    if parcel.shipper_id != _user(request).pk:
        raise Http404("No such parcel.")
    return parcel


def _can_cancel(parcel: Parcel) -> bool:
    return ParcelStatus.CANCELLED in PARCEL_TRANSITIONS.get(parcel.status, frozenset())


# --- public pages and accounts ------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_register(
                email=data["email"],
                password=data["password1"],
                full_name=data["full_name"],
                phone=data["phone"],
                is_shipper=data["is_shipper"],
                is_courier=data["is_courier"],
                vehicle_type=data["vehicle_type"] or None,
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(request, f"Welcome to {settings.SITE_NAME}, {user.get_short_name()}!")
            return redirect("web:dashboard" if user.is_shipper else "web:profile")
    return render(request, "web/signup.html", {"form": form})


class EmailLoginView(LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ProfileForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            user_update_profile(user=user, **form.profile_fields())
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("web:profile")
    courier_profile = CourierProfile.objects.filter(user=user).select_related("verified_by").first()
    return render(
        request,
        "web/profile.html",
        {"form": form, "courier_profile": courier_profile},
    )


# --- parcels ------------------------------------------------------------------------------------


@shipper_required
def dashboard(request: HttpRequest) -> HttpResponse:
    parcels = selectors.parcels_of_shipper(shipper=_user(request))
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
                parcel = parcel_create_service(shipper=_user(request), **form.parcel_fields())
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                if parcel.status == ParcelStatus.DRAFT and settings.PAYMENTS_REQUIRED:
                    messages.success(
                        request,
                        "Your parcel is saved. Pay for it to publish it: couriers see it "
                        "once it is paid.",
                    )
                    return redirect("web:parcel_pay", pk=parcel.pk)
                messages.success(request, "Your parcel is posted: couriers can now see it.")
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
    is_owner = parcel.shipper_id == _user(request).pk
    status = web_selectors.parcel_status_view(parcel=parcel)
    if rating_form is None and is_owner and status.can_rate:
        rating_form = RatingForm()
    return {
        "parcel": parcel,
        "status": status,
        "delivery": status.delivery,
        "is_owner": is_owner,
        "can_edit": parcel.is_editable,
        "can_cancel": _can_cancel(parcel),
        "cancel_form": CancelForm(),
        "rating_form": rating_form if is_owner else None,
        "live_url": reverse("web:parcel_status", args=[parcel.pk]) if is_owner else "",
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "pay_url": reverse("web:parcel_pay", args=[parcel.pk]) if _payable(parcel) else "",
    }


def _payable(parcel: Parcel) -> bool:
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
        context.update(_stripe_context())
    context.update(return_panel(parcel=parcel, is_owner=context["is_owner"]))
    return render(request, "web/parcel_detail.html", context, status=status)


def _stripe_context() -> dict[str, Any]:
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
    return _render_detail(request, _get_parcel(request, pk))


@require_GET
@never_cache
@shipper_required
def parcel_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live parts of the parcel page as an HTML fragment, for its auto-refresh."""
    parcel = _get_own_parcel(request, pk)
    return render(request, "web/_parcel_live.html", _detail_context(request, parcel))


@shipper_required
def parcel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    parcel = _get_parcel(request, pk)  # its shipper's, or any for staff
    if not parcel.is_editable:
        messages.error(
            request,
            f"This parcel is {parcel.get_status_display().lower()}: "
            "it can be edited only while it is a draft or open.",
        )
        return redirect("web:parcel_detail", pk=parcel.pk)
    if request.method == "POST":
        form = ParcelForm(request.POST, request.FILES, instance=parcel)
        if form.is_valid():
            changes = form.changed_parcel_fields()
            if not changes:
                messages.info(request, "Nothing changed.")
                return redirect("web:parcel_detail", pk=parcel.pk)
            try:
                parcel = parcel_update(parcel=parcel, actor=_user(request), **changes)
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, "Your changes are saved.")
                return redirect("web:parcel_detail", pk=parcel.pk)
    else:
        form = ParcelForm(instance=parcel)
    return render(request, "web/parcel_form.html", {"form": form, "parcel": parcel})


@require_POST
@shipper_required
def parcel_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    parcel = _get_parcel(request, pk)
    form = CancelForm(request.POST)
    if not _can_cancel(parcel):
        messages.error(
            request,
            f"This parcel is {parcel.get_status_display().lower()}: it can no longer be cancelled.",
        )
    elif not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("reason", [])))
    else:
        try:
            parcel = parcel_cancel_service(
                parcel=parcel,
                actor=_user(request),
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
                    "The parcel is cancelled. Your courier was already on the way, so "
                    f"{format_money(fee, parcel.currency)} of the price goes to them "
                    "as a cancellation fee.",
                )
            else:
                messages.success(request, "The parcel is cancelled.")
    return redirect("web:parcel_detail", pk=parcel.pk)


@require_POST
@shipper_required
def parcel_reissue_code(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """A new pickup or delivery code (after the courier was locked out, or a code leaked)."""
    parcel = _get_own_parcel(request, pk)
    if kind not in CODE_KINDS:
        raise Http404("No such code.")
    delivery = delivery_of_parcel(parcel=parcel)
    if delivery is None:
        messages.error(request, "No courier has taken this parcel yet: there is no code to renew.")
        return redirect("web:parcel_detail", pk=parcel.pk)
    try:
        delivery_reissue_code(delivery=delivery, actor=_user(request), kind=kind)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Here is a new {kind} code. The old one no longer works.")
    return redirect(reverse("web:parcel_detail", args=[parcel.pk]) + "#codes")


@require_POST
@shipper_required
def parcel_rate(request: HttpRequest, pk: int) -> HttpResponse:
    """The shipper rates the courier once the parcel is delivered."""
    parcel = _get_own_parcel(request, pk)
    delivery = delivery_of_parcel(parcel=parcel)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, parcel, rating_form=form, status=400)
    if delivery is None:
        messages.error(request, "Ratings open once the parcel is delivered.")
    else:
        try:
            rating_create(
                delivery=delivery,
                rater=_user(request),
                stars=form.cleaned_data["stars"],
                comment=form.cleaned_data["comment"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Thank you for rating your courier.")
    return redirect(reverse("web:parcel_detail", args=[parcel.pk]) + "#rating")


@require_POST
@shipper_required
def parcel_quote(request: HttpRequest) -> JsonResponse:
    """The price of a parcel before it is posted, for the form's "Get a quote" button."""
    form = QuoteForm(request.POST)
    if not form.is_valid():
        message = "Place both points on the map and fill in size, weight and delivery time."
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


# --- paying for a parcel, and tips --------------------------------------------------------------
#
# The card never touches our server: Stripe.js (settings.STRIPE_JS_URL) turns it into a token in
# the browser, static/js/card-payment.js posts the token here, and the services create the
# customer and the confirmed PaymentIntent. If the bank wants the shipper to authenticate (3-D
# Secure), the answer is `requires_action` with the client secret: the script lets Stripe.js run
# the check, then posts to the sync URL, which re-reads the PaymentIntent from Stripe.


def _json_error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"status": "error", "message": message, **extra}, status=status)


def _first_error(form: CardTokenForm) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return "Check the form and try again."


def _declined(message: str) -> str:
    reason = message.strip().rstrip(".") if message else "the card was refused"
    return f"{reason[:1].upper()}{reason[1:]}. Nothing was charged: try again or use another card."


def _payment_answer(request: HttpRequest, parcel: Parcel, payment: Payment) -> JsonResponse:
    """Where the parcel's payment stands, in the terms the card form's script acts on."""
    if payment.status == PaymentStatus.REQUIRES_PAYMENT:
        return JsonResponse(
            {
                "status": "requires_action",
                "client_secret": payment.client_secret,
                "sync_url": reverse("web:parcel_pay_sync", args=[parcel.pk]),
            }
        )
    if payment.status == PaymentStatus.FAILED:
        return _json_error(_declined(payment.failure_message), 402)
    if payment.status == PaymentStatus.CANCELED:
        return _json_error("This payment attempt was cancelled. Try again.", 409)
    parcel.refresh_from_db()
    amount = format_money(payment.amount, payment.currency)
    if parcel.status == ParcelStatus.OPEN:
        messages.success(
            request,
            f"Paid {amount}. Your parcel is published: couriers can now see it. "
            "We hold the money until the parcel is delivered.",
        )
    else:
        messages.success(request, f"Paid {amount}.")
    return JsonResponse(
        {"status": "succeeded", "redirect": reverse("web:parcel_detail", args=[parcel.pk])}
    )


@shipper_required
def parcel_pay(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the pay page (price split and card field). POST: pay with a Stripe.js card token."""
    parcel = _get_own_parcel(request, pk)
    detail_url = reverse("web:parcel_detail", args=[parcel.pk])
    if request.method == "POST":
        form = CardTokenForm(request.POST)
        if not form.is_valid():
            return _json_error(_first_error(form), 400)
        if not _payable(parcel):
            return _json_error(
                f"This parcel is {parcel.get_status_display().lower()}: there is nothing to pay.",
                409,
                redirect=detail_url,
            )
        try:
            payment = payments.payment_start(
                parcel=parcel, shipper=_user(request), card_token=form.cleaned_data["card_token"]
            )
        except ApplicationError as exc:
            extra = {"redirect": detail_url} if exc.code in ("already_paid", "not_payable") else {}
            return _json_error(exc.message, exc.status_code, code=exc.code, **extra)
        except StripeError:
            log.exception("paying for parcel %s", parcel.pk)
            return _json_error(PROVIDER_DOWN, 502)
        return _payment_answer(request, parcel, payment)

    if not _payable(parcel):
        if parcel.status == ParcelStatus.DRAFT:
            messages.info(request, "This parcel needs no payment to be published.")
        else:
            messages.info(
                request,
                f"This parcel is {parcel.get_status_display().lower()}: there is nothing to pay.",
            )
        return redirect(detail_url)
    context = {
        "parcel": parcel,
        "payment": payment_of_parcel(parcel_id=parcel.pk),
        **_stripe_context(),
    }
    return render(request, "web/parcel_pay.html", context)


@require_POST
@shipper_required
def parcel_pay_sync(request: HttpRequest, pk: int) -> JsonResponse:
    """After Stripe.js's authentication step: re-read the payment from Stripe."""
    parcel = _get_own_parcel(request, pk)
    payment = payment_of_parcel(parcel_id=parcel.pk)
    if payment is None:
        return _json_error("There is no payment for this parcel yet.", 404)
    try:
        payments.payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("syncing the payment of parcel %s", parcel.pk)
        return _json_error(PROVIDER_DOWN, 502)
    payment.refresh_from_db()
    if payment.status == PaymentStatus.REQUIRES_PAYMENT:
        return _json_error(
            "Your bank has not confirmed the payment. Nothing was charged: try again.", 402
        )
    return _payment_answer(request, parcel, payment)


def _tip_answer(request: HttpRequest, parcel: Parcel, tip: Tip) -> JsonResponse:
    if not tip.succeeded:
        return JsonResponse(
            {
                "status": "requires_action",
                "client_secret": tip.client_secret,
                "sync_url": reverse("web:parcel_tip_sync", args=[parcel.pk, tip.pk]),
            }
        )
    courier = web_selectors.first_name(tip.delivery.courier.full_name)
    messages.success(
        request,
        f"Thank you! Your tip of {format_money(tip.amount, tip.currency)} goes to {courier} "
        "in full.",
    )
    return JsonResponse(
        {"status": "succeeded", "redirect": reverse("web:parcel_detail", args=[parcel.pk]) + "#tip"}
    )


@require_POST
@shipper_required
def parcel_tip(request: HttpRequest, pk: int) -> JsonResponse:
    """A tip for the courier after delivery, paid like the parcel (a Stripe.js card token)."""
    parcel = _get_own_parcel(request, pk)
    form = TipForm(request.POST, currency=parcel.currency)
    if not form.is_valid():
        return _json_error(_first_error(form), 400)
    delivery = delivery_of_parcel(parcel=parcel)
    if delivery is None:
        return _json_error("Tips open once the parcel is delivered.", 409)
    try:
        tip = payments.tip_start(
            delivery=delivery,
            shipper=_user(request),
            amount=form.cleaned_data["amount"],
            card_token=form.cleaned_data["card_token"],
        )
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("tipping on parcel %s", parcel.pk)
        return _json_error(PROVIDER_DOWN, 502)
    return _tip_answer(request, parcel, tip)


@require_POST
@shipper_required
def parcel_tip_sync(request: HttpRequest, pk: int, tip_pk: int) -> JsonResponse:
    parcel = _get_own_parcel(request, pk)
    tip = web_selectors.tip_of_parcel(parcel=parcel, pk=tip_pk)
    if tip is None:
        raise Http404("No such tip.")
    try:
        payments.payment_sync(payment_intent_id=tip.stripe_payment_intent_id)
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("syncing tip %s", tip.pk)
        return _json_error(PROVIDER_DOWN, 502)
    tip.refresh_from_db()
    if not tip.succeeded:
        return _json_error(
            "The tip did not go through: the card was refused or not confirmed. "
            "Nothing was charged: try again or use another card.",
            402,
        )
    return _tip_answer(request, parcel, tip)


# --- couriers' payouts --------------------------------------------------------------------------


@courier_required
def payouts(request: HttpRequest) -> HttpResponse:
    """The courier's Stripe account state and their money: waiting (hold period, or payouts not
    enabled yet) and sent. While onboarding is unfinished, the account is re-read from Stripe,
    as the courier lands here from Stripe's onboarding."""
    courier = _user(request)
    account = web_selectors.connected_account_of(courier=courier)
    stale = False
    if account is not None and not account.payouts_enabled:
        try:
            account = payments.account_sync(account_id=account.stripe_account_id) or account
        except StripeError:
            log.warning("could not refresh Stripe account %s", account.stripe_account_id)
            stale = True
    context = {
        "account": account,
        "summary": payouts_summary(courier, account),
        "currency": settings.MARKETPLACE_CURRENCY,
        "stale": stale,
        "now": timezone.now(),
        # localstripe (development) has no Connect: onboarding can only fail there.
        "local_stripe": urlsplit(settings.STRIPE_API_BASE).hostname in ("127.0.0.1", "localhost"),
    }
    return render(request, "web/payouts.html", context)


@courier_required
def payouts_onboarding(request: HttpRequest) -> HttpResponse:
    """POST (the payouts page's button) or GET (Stripe's refresh URL, when a link expired): a
    fresh Stripe-hosted onboarding link, and off to it. Only the POST creates the account."""
    courier = _user(request)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if request.method == "GET" and web_selectors.connected_account_of(courier=courier) is None:
        return redirect("web:payouts")
    try:
        url = payments.connect_onboarding_link(courier=courier)
    except ApplicationError as exc:  # not a courier, or Stripe could not be reached
        messages.error(request, exc.message)
        return redirect("web:payouts")
    return redirect(url)
