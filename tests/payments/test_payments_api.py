"""The payments API: shippers pay for parcels (publishing them), couriers onboard for payouts."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.models import ConnectedAccount, Payment, PaymentStatus
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.matching import parcel_near
from tests.payments.helpers import (
    DECLINED_CARD,
    browser_confirms,
    card_token,
    delivered_payment,
    intent_status,
    onboard,
)

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(parcel, suffix=""):
    return f"/api/v1/parcels/{parcel.pk}/payment/{suffix}"


# --- paying -------------------------------------------------------------------------------------
def test_paying_with_a_saved_card_publishes_the_parcel(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()
    shipper = _as(parcel.shipper)

    with django_capture_on_commit_callbacks(execute=True):
        response = shipper.post(_url(parcel), {"payment_method": "pm_card_visa"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == P.SUCCEEDED
    assert (body["amount"], body["platform_fee"], body["courier_share"]) == (
        parcel.price_total,
        parcel.platform_fee,
        parcel.courier_share,
    )
    assert body["amount_refunded"] == 0 and body["failure_message"] == ""
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN and parcel.published_at is not None

    # And GET shows it
    shown = shipper.get(_url(parcel))
    assert shown.status_code == 200 and shown.json()["id"] == body["id"]


def test_paying_in_the_browser_then_syncing(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()
    shipper = _as(parcel.shipper)

    # When the page asks for an intent (twice: a reload)
    first = shipper.post(_url(parcel), {}, format="json")
    again = shipper.post(_url(parcel), {}, format="json")

    # Then one intent waits for Stripe.js, with what Stripe.js needs
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == P.REQUIRES_PAYMENT
    assert body["client_secret"].startswith(body["stripe_payment_intent_id"] + "_secret_")
    assert body["publishable_key"] == settings.STRIPE_PUBLISHABLE_KEY
    assert again.json()["id"] == body["id"] and Payment.objects.count() == 1
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT

    # When the browser confirms at Stripe and the page asks Waypost to sync
    browser_confirms(Payment.objects.get(), "pm_card_visa")
    with django_capture_on_commit_callbacks(execute=True):
        synced = shipper.post(_url(parcel, "sync/"))

    # Then the payment succeeded and the parcel is published
    assert synced.status_code == 200 and synced.json()["status"] == P.SUCCEEDED
    assert shipper.get(_url(parcel)).json()["status"] == P.SUCCEEDED
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN


def test_a_card_token_after_the_page_opened_an_intent_pays(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given the payment page opened an intent
    parcel = parcel_near()
    shipper = _as(parcel.shipper)
    waiting = shipper.post(_url(parcel), {}, format="json").json()

    # When the shipper submits a card tokenised by Stripe.js
    with django_capture_on_commit_callbacks(execute=True):
        response = shipper.post(_url(parcel), {"card_token": card_token()}, format="json")

    # Then that card pays (the waiting intent is cancelled, not returned unpaid)
    assert response.status_code == 201 and response.json()["status"] == P.SUCCEEDED
    assert intent_status(Payment.objects.get(pk=waiting["id"])) == "canceled"


def test_a_declined_card_answers_the_failure(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()

    response = _as(parcel.shipper).post(
        _url(parcel), {"payment_method": DECLINED_CARD}, format="json"
    )

    assert response.status_code == 201
    assert (
        response.json()["status"] == P.FAILED and "declined" in response.json()["failure_message"]
    )
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT


def test_paying_twice_is_a_conflict(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()
    shipper = _as(parcel.shipper)
    with django_capture_on_commit_callbacks(execute=True):
        shipper.post(_url(parcel), {"payment_method": "pm_card_visa"}, format="json")

    response = shipper.post(_url(parcel), {"payment_method": "pm_card_visa"}, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "already_paid"
    assert Payment.objects.count() == 1


def test_a_parcel_published_without_payments_cannot_be_paid(settings, stripe_connect):
    settings.PAYMENTS_REQUIRED = False
    parcel = parcel_near()

    response = _as(parcel.shipper).post(
        _url(parcel), {"payment_method": "pm_card_visa"}, format="json"
    )

    assert response.status_code == 409 and response.json()["error"]["code"] == "not_payable"
    assert not Payment.objects.exists()


def test_a_malformed_card_token_is_refused(payments_on, stripe_connect):
    parcel = parcel_near()

    response = _as(parcel.shipper).post(_url(parcel), {"card_token": "4242 4242"}, format="json")

    assert response.status_code == 400 and "card_token" in response.json()["error"]["fields"]
    assert not Payment.objects.exists()


def test_no_payment_yet_is_not_found(payments_on, stripe_connect):
    parcel = parcel_near()
    shipper = _as(parcel.shipper)

    assert shipper.get(_url(parcel)).json()["error"]["code"] == "no_payment"
    assert shipper.post(_url(parcel, "sync/")).status_code == 404


# --- someone else's parcel -----------------------------------------------------------------
def test_another_shipper_gets_404_and_nothing_changes(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()
    owner = _as(parcel.shipper)
    owner.post(_url(parcel), {}, format="json")
    other = _as(ShipperFactory())

    assert other.get(_url(parcel)).status_code == 404
    assert (
        other.post(_url(parcel), {"payment_method": "pm_card_visa"}, format="json").status_code
        == 404
    )
    assert other.post(_url(parcel, "sync/")).status_code == 404

    payment = Payment.objects.get()
    assert payment.status == P.REQUIRES_PAYMENT and payment.shipper == parcel.shipper
    assert Parcel.objects.get(pk=parcel.pk).status == ParcelStatus.DRAFT


def test_a_courier_cannot_pay(payments_on, stripe_connect):
    parcel = parcel_near()

    response = _as(CourierFactory()).post(
        _url(parcel), {"payment_method": "pm_card_visa"}, format="json"
    )

    assert response.status_code == 403 and not Payment.objects.exists()


def test_anonymous_cannot_pay(payments_on, stripe_connect):
    parcel = parcel_near()

    response = APIClient().post(_url(parcel), {"payment_method": "pm_card_visa"}, format="json")

    assert response.status_code in (401, 403) and not Payment.objects.exists()


# --- publishing ---------------------------------------------------------------------------------
def test_publishing_without_paying_is_refused(payments_on, stripe_connect):
    parcel = parcel_near()

    response = _as(parcel.shipper).post(f"/api/v1/parcels/{parcel.pk}/publish/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_required"
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT and parcel.published_at is None


# --- payouts --------------------------------------------------------------------------------
def test_a_courier_onboards_and_sees_their_payouts(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a courier whose delivery's share waits for their Stripe account
    trip, _parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)
    courier = _as(trip.courier)
    before = courier.get("/api/v1/me/payouts/").json()
    assert before["onboarded"] is False and before["payouts_enabled"] is False
    assert before["pending_amount"] == payment.courier_share and before["paid_amount"] == 0
    assert [t["kind"] for t in before["transfers"]] == ["release"]

    # When they ask for the onboarding link (twice)
    first = courier.post("/api/v1/me/payouts/onboarding/")
    second = courier.post("/api/v1/me/payouts/onboarding/")

    # Then one Express account, and a Stripe-hosted link each time
    assert first.status_code == 200 and second.status_code == 200
    account = ConnectedAccount.objects.get(courier=trip.courier)
    assert first.json()["url"].startswith(
        f"https://connect.stripe.com/setup/e/{account.stripe_account_id}/"
    )
    assert first.json()["url"] != second.json()["url"]
    assert list(stripe_connect.accounts) == [account.stripe_account_id]

    # When Stripe enables their payouts
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    # Then the money shows as paid
    after = courier.get("/api/v1/me/payouts/").json()
    assert after["onboarded"] is True and after["payouts_enabled"] is True
    assert after["requirements_due"] == []
    assert (after["pending_amount"], after["paid_amount"]) == (0, payment.courier_share)


def test_payouts_are_for_couriers_only(payments_on, stripe_connect):
    shipper = _as(ShipperFactory())

    assert shipper.get("/api/v1/me/payouts/").status_code == 403
    assert shipper.post("/api/v1/me/payouts/onboarding/").status_code == 403
    assert not ConnectedAccount.objects.exists() and not stripe_connect.accounts


def test_stripe_down_during_onboarding_is_a_502_with_a_useful_body(payments_on, stripe_connect):
    # Given Stripe answers 500 to every try (stripe-python retries twice itself)
    courier = CourierFactory()
    for _ in range(3):
        stripe_connect.fail_next("/v1/accounts", 500)

    # When the courier asks for the onboarding link
    response = _as(courier).post("/api/v1/me/payouts/onboarding/")

    # Then a clear error, and no account half-made
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert "Try again in a minute" in response.json()["error"]["message"]
    assert not ConnectedAccount.objects.exists()
