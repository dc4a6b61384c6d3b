"""Shared steps for the payments tests: pay, deliver, onboard, and act as the shipper's browser
(Stripe.js) or as someone working in Stripe's dashboard, against localstripe.

Helpers that trigger on-commit work take pytest-django's `django_capture_on_commit_callbacks`
fixture as `capture`: with the plain `db` fixture, tasks scheduled with `transaction.on_commit`
(eager Celery) run only inside it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from stripe import _http_client

from marketplace.accounts.models import User
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import delivering
from marketplace.lifecycle.paying import payment_start
from marketplace.parcels.models import Parcel
from marketplace.payments import gateway, ledger
from marketplace.payments.models import ConnectedAccount, Payment, Tip
from marketplace.payments.payouts import account_sync, connect_onboarding_link
from marketplace.trips.models import Trip
from tests.factories.matching import assigned, line_trip, parcel_near
from tests.payments.stripe_fakes import FakeConnect

Capture = Callable[..., Any]

# Stripe's test card that is declined when charged. (localstripe 1.15 charges
# `pm_card_visa_chargeDeclined` successfully: it declines that card only when attached to a
# customer, so the decline at charge time uses this card.)
DECLINED_CARD = "pm_card_chargeCustomerFail"
# A card whose payment asks for 3-D Secure (localstripe: `requires_action`).
THREE_D_SECURE_NUMBER = "4000002500003155"


def _auth() -> tuple[str, str]:
    return (settings.STRIPE_SECRET_KEY, "")


def _url(path: str) -> str:
    return settings.STRIPE_API_BASE.rstrip("/") + path


# --- money at rest ------------------------------------------------------------------------------
def balances(payment: Payment) -> dict[str, int]:
    return ledger.balances(transaction__payment=payment)


def charge_refunded(payment: Payment) -> int:
    """What localstripe says was refunded on the payment's charge."""
    return int(gateway.charge_retrieve(payment.stripe_charge_id)["amount_refunded"])


def refunds_at_stripe(payment: Payment) -> list[dict[str, Any]]:
    return list(gateway.charge_retrieve(payment.stripe_charge_id)["refunds"]["data"])


def intent_status(payment: Payment) -> str:
    return str(gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)["status"])


def events_of(payment: Payment) -> list[tuple[str, str]]:
    return list(payment.events.order_by("created_at", "id").values_list("from_status", "to_status"))


# --- the shipper's side -----------------------------------------------------------------------
def paid_parcel(
    capture: Capture, *, shipper: User | None = None, card: str = "pm_card_visa", **fields: Any
) -> tuple[Parcel, Payment]:
    """A draft parcel (PAYMENTS_REQUIRED must be on) paid with `card`."""
    parcel = parcel_near(shipper=shipper, **fields)
    with capture(execute=True):
        payment = payment_start(parcel=parcel, shipper=parcel.shipper, payment_method=card)
    parcel.refresh_from_db()
    return parcel, payment


def browser_attaches(payment: Payment | Tip, card: str) -> dict[str, Any]:
    """What Stripe.js does with the card the shipper typed in: set it on the PaymentIntent.
    (localstripe does not implement confirming with a new payment method; it does accept the
    update.)"""
    response = requests.post(
        _url(f"/v1/payment_intents/{payment.stripe_payment_intent_id}"),
        data={"payment_method": card},
        auth=_auth(),
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def browser_confirms(payment: Payment | Tip, card: str | None = "pm_card_visa") -> dict[str, Any]:
    """The shipper confirms the intent in the browser (not through Waypost)."""
    if card:
        browser_attaches(payment, card)
    try:
        return gateway.payment_intent_confirm(
            payment.stripe_payment_intent_id, key=f"browser-{secrets.token_hex(6)}"
        )
    except gateway.StripeError:  # a declined card: the intent records the error
        return gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)


def browser_fails_3d_secure(payment: Payment) -> dict[str, Any]:
    """The shipper's card asks for 3-D Secure and the shipper fails the challenge."""
    pm = requests.post(
        _url("/v1/payment_methods"),
        data={
            "type": "card",
            "card[number]": THREE_D_SECURE_NUMBER,
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
        auth=_auth(),
        timeout=10,
    ).json()
    intent = browser_confirms(payment, pm["id"])
    assert intent["status"] == "requires_action", intent
    response = requests.post(
        _url(f"/v1/payment_intents/{payment.stripe_payment_intent_id}/_authenticate"),
        data={"client_secret": payment.client_secret, "success": "false"},
        auth=_auth(),
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def card_token() -> str:
    """A card tokenised by Stripe.js (`tok_...`)."""
    response = requests.post(
        _url("/v1/tokens"),
        data={
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
        auth=_auth(),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def dashboard_refund(payment: Payment, amount: int) -> dict[str, Any]:
    """Someone refunds the charge in Stripe's dashboard, behind Waypost's back."""
    response = requests.post(
        _url("/v1/refunds"),
        data={"charge": payment.stripe_charge_id, "amount": amount},
        auth=_auth(),
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


# --- the courier's side -----------------------------------------------------------------------
def trip_and_parcel(capture: Capture, **fields: Any) -> tuple[Trip, Parcel, Payment]:
    trip = line_trip()
    parcel, payment = paid_parcel(capture, **fields)
    return trip, parcel, payment


def assign(parcel: Parcel, trip: Trip) -> Delivery:
    return assigned(parcel, trip.courier)


def carry(delivery: Delivery, courier: User) -> Delivery:
    """Pick up and set off (not delivered yet)."""
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    return delivering.delivery_start_transit(delivery=delivery, actor=courier)


def deliver(capture: Capture, delivery: Delivery, courier: User) -> Delivery:
    """Pick up, carry and hand over; the release runs on commit."""
    carry(delivery, courier)
    with capture(execute=True):
        delivery = delivering.delivery_confirm_delivered(
            delivery=delivery, actor=courier, code=delivery.delivery_code
        )
    return delivery


def delivered_payment(capture: Capture) -> tuple[Trip, Parcel, Payment, Delivery]:
    trip, parcel, payment = trip_and_parcel(capture)
    delivery = deliver(capture, assign(parcel, trip), trip.courier)
    payment.refresh_from_db()
    return trip, parcel, payment, delivery


def onboard(
    capture: Capture, connect: FakeConnect, courier: User, *, payouts: bool = True
) -> ConnectedAccount:
    """The courier opens their Express account; with `payouts` Stripe enables payouts and
    `account.updated` is handled (sending what waited)."""
    connect_onboarding_link(courier=courier)
    account = ConnectedAccount.objects.get(courier=courier)
    if payouts:
        connect.enable_payouts(account.stripe_account_id)
        with capture(execute=True):
            account_sync(account_id=account.stripe_account_id)
        account.refresh_from_db()
    return account


# --- failures -----------------------------------------------------------------------------------
def fail_times(
    connect: FakeConnect, fragment: str, failure: Exception | int, times: int = 3
) -> None:
    """Fail the next `times` calls to `fragment`: stripe-python retries a connection error or a
    5xx twice itself (with the same idempotency key), so three failures reach our code."""
    for _ in range(times):
        connect.fail_next(fragment, failure)


def no_retry_sleep(monkeypatch: Any) -> None:
    """stripe-python's own retries without their back-off pauses."""
    monkeypatch.setattr(_http_client.HTTPClient, "_sleep_time_seconds", lambda *a: 0)
