"""Couriers' payouts: the Stripe account's state and the onboarding link."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError
from marketplace.payments import payouts as payout_services
from marketplace.payments.gateway import StripeError
from marketplace.payments.selectors import payouts_summary
from marketplace.web import selectors as web_selectors
from marketplace.web.views.common import courier_required, current_user

log = logging.getLogger(__name__)


@courier_required
def payouts(request: HttpRequest) -> HttpResponse:
    """The courier's Stripe account state and their money: waiting (hold period, or payouts not
    enabled yet) and sent. While onboarding is unfinished, the account is re-read from Stripe,
    as the courier lands here from Stripe's onboarding."""
    courier = current_user(request)
    account = web_selectors.connected_account_of(courier=courier)
    stale = False
    if account is not None and not account.payouts_enabled:
        try:
            account = payout_services.account_sync(account_id=account.stripe_account_id) or account
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
    courier = current_user(request)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if request.method == "GET" and web_selectors.connected_account_of(courier=courier) is None:
        return redirect("web:payouts")
    try:
        url = payout_services.connect_onboarding_link(courier=courier)
    except ApplicationError as exc:  # not a courier, or Stripe could not be reached
        messages.error(request, exc.message)
        return redirect("web:payouts")
    return redirect(url)
