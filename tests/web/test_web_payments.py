"""Paying on the shipper site: the pay page, the card token flow against localstripe, declines
and provider errors, the payment line and the tip on the parcel page, and couriers' payouts page
(Connect through FakeConnect)."""

import json
import re

import pytest
import requests
from django.conf import settings
from django.test import Client
from django.urls import reverse

from marketplace.core.money import format_money
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import (
    delivery_confirm_delivered,
    delivery_confirm_pickup,
    delivery_start_transit,
)
from marketplace.lifecycle.matching import offer_accept
from marketplace.lifecycle.paying import payment_start
from marketplace.matching.models import Offer
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.models import (
    ConnectedAccount,
    Payment,
    PaymentStatus,
    Tip,
    Transfer,
    TransferKind,
    TransferStatus,
)
from tests.factories.accounts import CourierFactory
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip
from tests.web.conftest import parcel_post_data, text_of

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
DECLINED_ON_ATTACH = "4000000000000002"  # localstripe: refused when saved on the customer
DECLINED_ON_CHARGE = "4000000000000341"  # saved fine, refused when charged
NEEDS_3DS = "4000002500003155"  # the bank asks the shipper to authenticate


def card_token(number: str = VISA) -> str:
    """A card token as Stripe.js makes it in the browser (POST /v1/tokens at localstripe)."""
    response = requests.post(
        f"{settings.STRIPE_API_BASE}/v1/tokens",
        data={
            "card[number]": number,
            "card[exp_month]": 12,
            "card[exp_year]": 2030,
            "card[cvc]": "123",
        },
        auth=(settings.STRIPE_SECRET_KEY, ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def pay_url(parcel: Parcel) -> str:
    return reverse("web:parcel_pay", args=[parcel.pk])


def draft_of(shipper) -> Parcel:
    parcel = make_parcel(shipper=shipper)
    assert parcel.status == ParcelStatus.DRAFT  # PAYMENTS_REQUIRED: waits for its payment
    return parcel


def pay(client, parcel: Parcel, number: str = VISA):
    return client.post(pay_url(parcel), {"card_token": card_token(number)})


def authenticate(client_secret: str, *, success: bool) -> None:
    """What localstripe's stand-in Stripe.js does when the shipper answers its 3-D Secure box."""
    pi = client_secret.split("_secret_")[0]
    response = requests.post(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{pi}/_authenticate",
        params={"success": str(success).lower()},
        json={"key": settings.STRIPE_PUBLISHABLE_KEY, "client_secret": client_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def paid_and_delivered(shipper, django_capture_on_commit_callbacks):
    """A parcel paid at localstripe, carried and delivered by a courier: (parcel, delivery)."""
    courier = CourierFactory(full_name="Karla Kurier")
    make_trip(courier=courier)
    parcel = draft_of(shipper)
    with django_capture_on_commit_callbacks(execute=True):
        payment_start(parcel=parcel, shipper=shipper, payment_method="pm_card_visa")
    offers_make_for_parcel(parcel_id=parcel.pk)
    offer = Offer.objects.get(parcel=parcel, courier=courier)
    delivery = offer_accept(offer_id=offer.pk, courier=courier)
    delivery = delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivery = delivery_start_transit(delivery=delivery, actor=courier)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_confirm_delivered(
            delivery=delivery, actor=courier, code=delivery.delivery_code
        )
    parcel.refresh_from_db()
    return parcel, delivery


# --- posting, then the pay page ----------------------------------------------------------------


def test_posting_a_parcel_saves_a_draft_and_leads_to_the_pay_page(payments_on, alice_client):
    response = alice_client.get(reverse("web:parcel_create"))
    assert text_of(response.content.decode(), "parcel-submit") == "Post and pay"

    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data())

    parcel = Parcel.objects.get()
    assert parcel.status == ParcelStatus.DRAFT
    assert response.status_code == 302
    assert response["Location"] == pay_url(parcel)
    assert not Payment.objects.exists()


def test_the_pay_page_shows_the_split_and_loads_stripe_js_from_settings(
    payments_on, alice_client, alice
):
    payments_on.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"
    payments_on.STRIPE_PUBLISHABLE_KEY = "pk_test_from_settings"
    parcel = draft_of(alice)

    response = alice_client.get(pay_url(parcel))

    assert response.status_code == 200
    html = response.content.decode()
    assert text_of(html, "pay-total") == format_money(parcel.price_total, "EUR")
    assert text_of(html, "pay-courier-share") == format_money(parcel.courier_share, "EUR")
    assert text_of(html, "pay-platform-fee") == format_money(parcel.platform_fee, "EUR")
    assert '<script src="http://127.0.0.1:8420/js.stripe.com/v3/"></script>' in html
    assert "https://js.stripe.com" not in html  # never the CDN in development and tests
    config = re.search(r'<script id="stripe-config" type="application/json">(.*?)</script>', html)
    assert config and json.loads(config.group(1)) == {"publishableKey": "pk_test_from_settings"}
    assert "4242 4242 4242 4242" in text_of(html, "test-card-hint")
    assert 'data-card-element data-testid="card-element"' in html
    assert f'action="{pay_url(parcel)}"' in html


def test_the_pay_page_uses_whatever_stripe_js_url_is_configured(payments_on, alice_client, alice):
    payments_on.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    payments_on.STRIPE_PUBLISHABLE_KEY = "pk_live_example"
    parcel = draft_of(alice)

    html = alice_client.get(pay_url(parcel)).content.decode()

    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert "test-card-hint" not in html  # no test cards with a live key


def test_an_unpaid_draft_has_a_pay_to_publish_button(payments_on, alice_client, alice):
    parcel = draft_of(alice)

    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()

    assert f'href="{pay_url(parcel)}" data-testid="pay-to-publish"' in html
    assert text_of(html, "payment-status").startswith("Not paid yet.")
    dashboard = alice_client.get(reverse("web:dashboard")).content.decode()
    assert text_of(dashboard, "row-pay") == "Pay to publish"


# --- paying ------------------------------------------------------------------------------------


def test_paying_with_a_card_token_publishes_the_parcel(payments_on, alice_client, alice):
    parcel = draft_of(alice)

    response = pay(alice_client, parcel)

    assert response.status_code == 200
    detail_url = reverse("web:parcel_detail", args=[parcel.pk])
    assert response.json() == {"status": "succeeded", "redirect": detail_url}
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN
    payment = Payment.objects.get(parcel=parcel)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount == parcel.price_total
    assert payment.stripe_charge_id

    html = alice_client.get(detail_url).content.decode()
    assert "Your parcel is published" in text_of(html, "messages")
    assert text_of(html, "status-badge") == "Open for couriers"
    assert text_of(html, "payment-status").startswith("Paid — held in escrow until delivery.")
    assert "pay-to-publish" not in html


def test_a_card_declined_when_saved_shows_why_and_can_be_retried(payments_on, alice_client, alice):
    parcel = draft_of(alice)

    response = pay(alice_client, parcel, DECLINED_ON_ATTACH)

    assert response.status_code == 502
    body = response.json()
    assert body["status"] == "error"
    assert body["message"] == "The payment provider refused: Your card was declined."
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT
    assert not Payment.objects.exists()

    # Another card then works.
    assert pay(alice_client, parcel).json()["status"] == "succeeded"
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN


def test_a_card_declined_when_charged_is_recorded_and_shown(payments_on, alice_client, alice):
    parcel = draft_of(alice)

    response = pay(alice_client, parcel, DECLINED_ON_CHARGE)

    assert response.status_code == 402
    assert response.json() == {
        "status": "error",
        "message": "Your card was declined. Nothing was charged: try again or use another card.",
    }
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT
    assert Payment.objects.get().status == PaymentStatus.FAILED
    html = alice_client.get(pay_url(parcel)).content.decode()
    assert text_of(html, "last-failure") == (
        "Your last attempt did not go through: Your card was declined."
    )

    assert pay(alice_client, parcel).json()["status"] == "succeeded"
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1


def test_a_card_that_needs_authentication_is_confirmed_then_synced(
    payments_on, alice_client, alice
):
    parcel = draft_of(alice)

    body = pay(alice_client, parcel, NEEDS_3DS).json()

    assert body["status"] == "requires_action"
    assert body["sync_url"] == reverse("web:parcel_pay_sync", args=[parcel.pk])
    payment = Payment.objects.get()
    assert body["client_secret"] == payment.client_secret
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT

    # The shipper completes 3-D Secure in Stripe.js, then the page asks us to look again.
    authenticate(body["client_secret"], success=True)
    synced = alice_client.post(body["sync_url"])

    assert synced.json() == {
        "status": "succeeded",
        "redirect": reverse("web:parcel_detail", args=[parcel.pk]),
    }
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN


def test_a_failed_authentication_leaves_the_draft_and_says_so(payments_on, alice_client, alice):
    parcel = draft_of(alice)
    body = pay(alice_client, parcel, NEEDS_3DS).json()

    authenticate(body["client_secret"], success=False)
    synced = alice_client.post(body["sync_url"])

    assert synced.status_code == 402
    assert synced.json()["message"] == (
        "The provided PaymentMethod has failed authentication. "
        "Nothing was charged: try again or use another card."
    )
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT
    assert Payment.objects.get().status == PaymentStatus.FAILED


def test_a_new_card_replaces_an_attempt_left_waiting_for_authentication(
    payments_on, alice_client, alice
):
    parcel = draft_of(alice)
    pay(alice_client, parcel, NEEDS_3DS)  # the shipper closed the bank's window

    assert pay(alice_client, parcel).json()["status"] == "succeeded"

    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == [PaymentStatus.CANCELED, PaymentStatus.SUCCEEDED]


def test_an_unreachable_payment_provider_is_reported(payments_on, alice_client, alice):
    parcel = draft_of(alice)
    token = card_token()
    payments_on.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    response = alice_client.post(pay_url(parcel), {"card_token": token})

    assert response.status_code == 502
    message = response.json()["message"]
    assert message.startswith("The payment provider refused:")
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT
    assert not Payment.objects.exists()


def test_a_missing_or_malformed_token_is_refused_before_stripe(payments_on, alice_client, alice):
    parcel = draft_of(alice)

    for data in ({}, {"card_token": "4242424242424242"}, {"card_token": "tok_"}):
        response = alice_client.post(pay_url(parcel), data)
        assert response.status_code == 400
        assert response.json()["message"] == (
            "The card was not read. Fill in the card details and try again."
        )
    assert not Payment.objects.exists()


def test_paying_twice_says_it_is_paid_and_points_to_the_parcel(payments_on, alice_client, alice):
    parcel = draft_of(alice)
    pay(alice_client, parcel)

    response = pay(alice_client, parcel)

    assert response.status_code == 409
    assert response.json()["redirect"] == reverse("web:parcel_detail", args=[parcel.pk])
    assert Payment.objects.count() == 1
    # The page itself sends the shipper back to the parcel.
    page = alice_client.get(pay_url(parcel))
    assert page.status_code == 302
    assert page["Location"] == reverse("web:parcel_detail", args=[parcel.pk])


def test_the_pay_endpoint_needs_the_csrf_token(payments_on, alice):
    parcel = draft_of(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(pay_url(parcel), {"card_token": "tok_whatever"})

    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_no_one_else_can_see_or_pay_a_parcel(payments_on, bob_client, alice):
    parcel = draft_of(alice)

    assert bob_client.get(pay_url(parcel)).status_code == 404
    assert bob_client.post(pay_url(parcel), {"card_token": card_token()}).status_code == 404
    sync = reverse("web:parcel_pay_sync", args=[parcel.pk])
    assert bob_client.post(sync).status_code == 404

    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT
    assert not Payment.objects.exists()


def test_the_pay_page_needs_a_login(payments_on, client, alice):
    parcel = draft_of(alice)

    response = client.get(pay_url(parcel))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_without_payments_required_posting_publishes_and_there_is_nothing_to_pay(alice_client):
    assert settings.PAYMENTS_REQUIRED is False  # the test settings' default

    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data())

    parcel = Parcel.objects.get()
    assert parcel.status == ParcelStatus.OPEN
    assert response["Location"] == reverse("web:parcel_detail", args=[parcel.pk])
    page = alice_client.get(pay_url(parcel))
    assert page.status_code == 302
    assert page["Location"] == reverse("web:parcel_detail", args=[parcel.pk])
    html = alice_client.get(response["Location"]).content.decode()
    assert "pay-to-publish" not in html
    assert "No payment was taken" in text_of(html, "payment-status")


# --- the payment line on the parcel page ---------------------------------------------------------


def test_a_cancelled_paid_parcel_shows_the_refund(
    payments_on, alice_client, alice, django_capture_on_commit_callbacks
):
    parcel = draft_of(alice)
    pay(alice_client, parcel)
    parcel.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=alice, reason="Changed my mind")

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REFUNDED
    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()
    price = format_money(parcel.price_total, parcel.currency)
    assert text_of(html, "payment-status") == f"Refunded in full: {price} back to your card."


def test_after_delivery_the_payment_is_released(
    payments_on, alice_client, alice, django_capture_on_commit_callbacks
):
    parcel, _ = paid_and_delivered(alice, django_capture_on_commit_callbacks)

    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()

    share = format_money(parcel.courier_share, parcel.currency)
    assert text_of(html, "payment-status").startswith(
        f"Paid and released on delivery: {share} to the courier"
    )


# --- tips ----------------------------------------------------------------------------------------


def test_tipping_the_courier_after_delivery(
    payments_on, alice_client, alice, django_capture_on_commit_callbacks
):
    parcel, delivery = paid_and_delivered(alice, django_capture_on_commit_callbacks)
    detail_url = reverse("web:parcel_detail", args=[parcel.pk])
    html = alice_client.get(detail_url).content.decode()
    assert 'data-testid="tip-form"' in html
    assert f'<script src="{settings.STRIPE_JS_URL}"></script>' in html
    assert text_of(html, "tip").startswith("Tip Karla")

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("web:parcel_tip", args=[parcel.pk]),
            {"amount": "2.50", "card_token": card_token()},
        )

    assert response.json() == {"status": "succeeded", "redirect": detail_url + "#tip"}
    tip = Tip.objects.get()
    assert (tip.amount, tip.succeeded, tip.delivery) == (250, True, delivery)
    transfer = Transfer.objects.get(kind=TransferKind.TIP)
    assert (transfer.amount, transfer.courier) == (250, delivery.courier)
    html = alice_client.get(detail_url).content.decode()
    assert "Your tip of €2.50 goes to Karla in full." in text_of(html, "messages")
    assert text_of(html, "tip-paid").startswith("You tipped €2.50 on")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "A tip is between 0.01 and 1000.00 EUR."),
        ("1000.01", "A tip is between 0.01 and 1000.00 EUR."),
        ("1.234", "Use at most 2 decimal places."),
        ("", "This field is required."),
    ],
)
def test_a_tip_needs_a_sensible_amount(
    payments_on, alice_client, alice, django_capture_on_commit_callbacks, amount, message
):
    parcel, _ = paid_and_delivered(alice, django_capture_on_commit_callbacks)

    response = alice_client.post(
        reverse("web:parcel_tip", args=[parcel.pk]), {"amount": amount, "card_token": "tok_abc"}
    )

    assert response.status_code == 400
    assert response.json()["message"] == message
    assert not Tip.objects.exists()


def test_a_tip_needs_a_delivered_paid_parcel(payments_on, alice_client, alice):
    parcel = draft_of(alice)
    pay(alice_client, parcel)  # paid and open, not delivered

    response = alice_client.post(
        reverse("web:parcel_tip", args=[parcel.pk]), {"amount": "2", "card_token": card_token()}
    )

    assert response.status_code == 409
    assert response.json()["message"] == "Tips open once the parcel is delivered."
    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()
    assert "tip-form" not in html
    assert "js.stripe.com" not in html  # Stripe.js only where there is a card field
    assert not Tip.objects.exists()


def test_only_the_shipper_tips(payments_on, bob_client, alice, django_capture_on_commit_callbacks):
    parcel, _ = paid_and_delivered(alice, django_capture_on_commit_callbacks)

    response = bob_client.post(
        reverse("web:parcel_tip", args=[parcel.pk]), {"amount": "2", "card_token": card_token()}
    )

    assert response.status_code == 404
    assert not Tip.objects.exists()


# --- couriers' payouts ---------------------------------------------------------------------------


def test_a_new_courier_sets_up_payouts_with_stripe(stripe_connect, client, carl):
    client.force_login(carl)
    html = client.get(reverse("web:payouts")).content.decode()
    assert text_of(html, "account-state") == "Not set up"
    assert text_of(html, "onboarding-submit") == "Set up payouts with Stripe"
    assert text_of(html, "money-waiting") == "€0.00"
    assert 'data-testid="nav-payouts"' in html

    response = client.post(reverse("web:payouts_onboarding"))

    assert response.status_code == 302
    account = ConnectedAccount.objects.get(courier=carl)
    assert response["Location"].startswith(
        f"https://connect.stripe.com/setup/e/{account.stripe_account_id}/"
    )


def test_the_payouts_page_follows_the_stripe_account_and_the_money(
    payments_on, stripe_connect, client, alice, django_capture_on_commit_callbacks
):
    parcel, delivery = paid_and_delivered(alice, django_capture_on_commit_callbacks)
    courier = delivery.courier
    client.force_login(courier)
    client.post(reverse("web:payouts_onboarding"))
    account = ConnectedAccount.objects.get(courier=courier)

    # Back from Stripe with the onboarding unfinished: the page says what Stripe still needs.
    html = client.get(reverse("web:payouts")).content.decode()
    assert text_of(html, "account-state") == "Set-up not finished"
    assert text_of(html, "requirements-due") == (
        "Bank account Individual: dob day Accept Stripe's terms"  # tests/fixtures/stripe/account
    )
    share = format_money(parcel.courier_share, parcel.currency)
    assert text_of(html, "money-waiting") == share
    assert text_of(html, "money-sent") == "€0.00"
    assert text_of(html, "onboarding-submit") == "Continue with Stripe"

    # Stripe enables payouts; the page re-reads the account, and the waiting share is sent.
    stripe_connect.enable_payouts(account.stripe_account_id)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("web:payouts"))
    html = client.get(reverse("web:payouts")).content.decode()

    assert text_of(html, "account-state") == "Payouts enabled"
    assert "requirements-due" not in html
    assert text_of(html, "money-waiting") == "€0.00"
    assert text_of(html, "money-sent") == share
    assert Transfer.objects.get().status == TransferStatus.PAID


def test_an_expired_onboarding_link_is_renewed_by_stripes_refresh_url(stripe_connect, client, carl):
    client.force_login(carl)
    refresh = reverse("web:payouts_onboarding")

    # Without an account a GET creates nothing.
    response = client.get(refresh)
    assert response["Location"] == reverse("web:payouts")
    assert not ConnectedAccount.objects.exists()

    client.post(refresh)
    response = client.get(refresh)

    assert response.status_code == 302
    assert response["Location"].startswith("https://connect.stripe.com/setup/e/")
    assert ConnectedAccount.objects.count() == 1


def test_stripe_down_during_onboarding_is_reported(stripe_connect, client, carl):
    client.force_login(carl)
    stripe_connect.fail_next("/v1/accounts", 500)
    stripe_connect.fail_next("/v1/accounts", 500)
    stripe_connect.fail_next("/v1/accounts", 500)

    response = client.post(reverse("web:payouts_onboarding"), follow=True)

    assert response.redirect_chain == [(reverse("web:payouts"), 302)]
    assert text_of(response.content.decode(), "messages") == (
        "We could not reach Stripe to set up your payouts. Try again in a minute."
    )
    assert not ConnectedAccount.objects.exists()


def test_payouts_are_for_couriers(alice_client, alice, client):
    response = alice_client.get(reverse("web:payouts"))
    assert response.status_code == 403
    assert "This page is for couriers" in response.content.decode()
    assert alice_client.post(reverse("web:payouts_onboarding")).status_code == 403
    assert not ConnectedAccount.objects.exists()

    client.logout()
    response = client.get(reverse("web:payouts"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
