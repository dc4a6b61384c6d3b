"""Paying for a parcel (Stripe.js or a saved card), and tips after delivery."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from marketplace.core.exceptions import ApplicationError
from marketplace.core.money import format_money
from marketplace.deliveries.selectors import delivery_of_parcel
from marketplace.lifecycle import paying
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import tips
from marketplace.payments.gateway import StripeError
from marketplace.payments.models import Payment, PaymentStatus, Tip
from marketplace.payments.selectors import payment_of_parcel
from marketplace.web import selectors as web_selectors
from marketplace.web.forms import (
    CardTokenForm,
    TipForm,
)
from marketplace.web.views.common import (
    current_user,
    own_parcel,
    shipper_required,
)
from marketplace.web.views.parcels import parcel_payable, stripe_context

# A tip is booked against the parcel's payment: only while that payment holds or paid out money.

log = logging.getLogger(__name__)
# Shown when Stripe cannot be reached (a StripeError outside the services' own handling).
PROVIDER_DOWN = gettext_lazy(
    "Our payment provider cannot be reached right now. Nothing was charged by this attempt; "
    "try again in a minute."
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
    return gettext("Check the form and try again.")


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
        return _json_error(gettext("This payment attempt was cancelled. Try again."), 409)
    parcel.refresh_from_db()
    amount = format_money(payment.amount, payment.currency)
    if parcel.status == ParcelStatus.OPEN:
        messages.success(
            request,
            gettext(
                "Paid %(amount)s. Your parcel is published: couriers can now see it. "
                "We hold the money until the parcel is delivered."
            )
            % {"amount": amount},
        )
    else:
        messages.success(request, gettext("Paid %(amount)s.") % {"amount": amount})
    return JsonResponse(
        {"status": "succeeded", "redirect": reverse("web:parcel_detail", args=[parcel.pk])}
    )


@shipper_required
def parcel_pay(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the pay page (price split and card field). POST: pay with a Stripe.js card token."""
    parcel = own_parcel(request, pk)
    detail_url = reverse("web:parcel_detail", args=[parcel.pk])
    if request.method == "POST":
        form = CardTokenForm(request.POST)
        if not form.is_valid():
            return _json_error(_first_error(form), 400)
        if not parcel_payable(parcel):
            return _json_error(
                gettext("This parcel is %(lower)s: there is nothing to pay.")
                % {"lower": parcel.get_status_display().lower()},
                409,
                redirect=detail_url,
            )
        try:
            payment = paying.payment_start(
                parcel=parcel,
                shipper=current_user(request),
                card_token=form.cleaned_data["card_token"],
            )
        except ApplicationError as exc:
            extra = {"redirect": detail_url} if exc.code in ("already_paid", "not_payable") else {}
            return _json_error(exc.message, exc.status_code, code=exc.code, **extra)
        except StripeError:
            log.exception("paying for parcel %s", parcel.pk)
            return _json_error(str(PROVIDER_DOWN), 502)
        return _payment_answer(request, parcel, payment)

    if not parcel_payable(parcel):
        if parcel.status == ParcelStatus.DRAFT:
            messages.info(request, gettext("This parcel needs no payment to be published."))
        else:
            messages.info(
                request,
                gettext("This parcel is %(lower)s: there is nothing to pay.")
                % {"lower": parcel.get_status_display().lower()},
            )
        return redirect(detail_url)
    context = {
        "parcel": parcel,
        "payment": payment_of_parcel(parcel_id=parcel.pk),
        **stripe_context(),
    }
    return render(request, "web/parcel_pay.html", context)


@require_POST
@shipper_required
def parcel_pay_sync(request: HttpRequest, pk: int) -> JsonResponse:
    """After Stripe.js's authentication step: re-read the payment from Stripe."""
    parcel = own_parcel(request, pk)
    payment = payment_of_parcel(parcel_id=parcel.pk)
    if payment is None:
        return _json_error(gettext("There is no payment for this parcel yet."), 404)
    try:
        paying.payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("syncing the payment of parcel %s", parcel.pk)
        return _json_error(str(PROVIDER_DOWN), 502)
    payment.refresh_from_db()
    if payment.status == PaymentStatus.REQUIRES_PAYMENT:
        return _json_error(
            gettext("Your bank has not confirmed the payment. Nothing was charged: try again."), 402
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
        gettext("Thank you! Your tip of %(format_money)s goes to %(courier)s in full.")
        % {"format_money": format_money(tip.amount, tip.currency), "courier": courier},
    )
    return JsonResponse(
        {"status": "succeeded", "redirect": reverse("web:parcel_detail", args=[parcel.pk]) + "#tip"}
    )


@require_POST
@shipper_required
def parcel_tip(request: HttpRequest, pk: int) -> JsonResponse:
    """A tip for the courier after delivery, paid like the parcel (a Stripe.js card token)."""
    parcel = own_parcel(request, pk)
    form = TipForm(request.POST, currency=parcel.currency)
    if not form.is_valid():
        return _json_error(_first_error(form), 400)
    delivery = delivery_of_parcel(parcel=parcel)
    if delivery is None:
        return _json_error(gettext("Tips open once the parcel is delivered."), 409)
    try:
        tip = tips.tip_start(
            delivery=delivery,
            shipper=current_user(request),
            amount=form.cleaned_data["amount"],
            card_token=form.cleaned_data["card_token"],
        )
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("tipping on parcel %s", parcel.pk)
        return _json_error(str(PROVIDER_DOWN), 502)
    return _tip_answer(request, parcel, tip)


@require_POST
@shipper_required
def parcel_tip_sync(request: HttpRequest, pk: int, tip_pk: int) -> JsonResponse:
    parcel = own_parcel(request, pk)
    tip = web_selectors.tip_of_parcel(parcel=parcel, pk=tip_pk)
    if tip is None:
        raise Http404("No such tip.")
    try:
        paying.payment_sync(payment_intent_id=tip.stripe_payment_intent_id)
    except ApplicationError as exc:
        return _json_error(exc.message, exc.status_code, code=exc.code)
    except StripeError:
        log.exception("syncing tip %s", tip.pk)
        return _json_error(str(PROVIDER_DOWN), 502)
    tip.refresh_from_db()
    if not tip.succeeded:
        return _json_error(
            gettext(
                "The tip did not go through: the card was refused or not confirmed. "
                "Nothing was charged: try again or use another card."
            ),
            402,
        )
    return _tip_answer(request, parcel, tip)
