"""Paying in a real browser, with localstripe's stand-in Stripe.js (served on loopback from
settings.STRIPE_JS_URL): post a parcel on the map, pay with the test card, see it published;
a declined card, then another; a card whose bank asks for authentication; a tip after delivery;
and the courier's payouts page."""

import pytest
from django.conf import settings

from marketplace.accounts.services import user_register
from marketplace.core.money import format_money
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
    TransferStatus,
)
from marketplace.payments.payouts import connect_onboarding_link
from tests.browser.app_thread import in_app_thread
from tests.browser.test_browser_shipper import PASSWORD, log_in, pixel_at
from tests.factories.accounts import PASSWORD as COURIER_PASSWORD
from tests.factories.accounts import CourierFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip

pytestmark = pytest.mark.browser

CARD = "[data-testid=card-element]"


def post_parcel_on_the_map(page, description: str) -> None:
    page.goto("/parcels/new/")
    page.wait_for_selector("#parcel-map[data-ready=true]")
    box = page.locator("[data-testid=parcel-map]").bounding_box()
    assert box is not None
    centre = (box["width"] / 2, box["height"] / 2)
    center, zoom = tuple(settings.MAP_DEFAULT_CENTER), settings.MAP_DEFAULT_ZOOM
    for kind, (lon, lat) in (("pickup", ALEXANDERPLATZ), ("dropoff", CHARLOTTENBURG)):
        dx, dy = pixel_at(center, zoom, lat, lon)
        page.click(f"[data-testid=place-{kind}]")
        page.locator("[data-testid=parcel-map]").click(
            position={"x": centre[0] + dx, "y": centre[1] + dy}
        )
    page.fill("#id_description", description)
    page.check("#id_size_class_1")
    page.fill("#id_weight_kg", "2")
    page.fill("#id_declared_value", "35")
    page.check("#id_prohibited_items_declared")
    page.fill("#id_pickup_address", "Alexanderplatz 1, Berlin")
    page.fill("#id_pickup_contact_name", "Hanna")
    page.fill("#id_pickup_contact_phone", "+49 30 1234567")
    page.fill("#id_dropoff_address", "Kaiserdamm 2, Berlin")
    page.fill("#id_dropoff_contact_name", "Ivo")
    page.fill("#id_dropoff_contact_phone", "+49 30 7654321")


def paid_and_delivered(shipper, courier, description: str) -> Parcel:
    """A parcel paid with the test card, carried by `courier` on their trip and delivered."""
    make_trip(courier=courier)
    parcel = make_parcel(shipper=shipper, description=description)
    payment_start(parcel=parcel, shipper=shipper, payment_method="pm_card_visa")
    offers_make_for_parcel(parcel_id=parcel.pk)
    delivery = offer_accept(
        offer_id=Offer.objects.get(parcel=parcel, courier=courier).pk, courier=courier
    )
    delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivery_start_transit(delivery=delivery, actor=courier)
    delivery_confirm_delivered(delivery=delivery, actor=courier, code=delivery.delivery_code)
    parcel.refresh_from_db()
    return parcel


def type_card(page, number: str, root: str = CARD) -> None:
    """Type into the stand-in card field (localstripe's fake inputs) as a person would."""
    page.wait_for_selector(f"{root} input[placeholder=number]")
    for name, value in (
        ("number", number),
        ("exp_month", "12"),
        ("exp_year", "30"),
        ("cvc", "123"),
        ("postal_code", "10178"),
    ):
        page.locator(f"{root} input[placeholder={name}]").fill(value)


def test_post_a_parcel_pay_with_the_test_card_and_see_it_published(
    page, shot, payments_on, localstripe_server
):
    shipper = user_register(email="hanna@example.com", password=PASSWORD, full_name="Hanna")
    log_in(page, "hanna@example.com")
    post_parcel_on_the_map(page, "Wedding cake")
    assert page.inner_text("[data-testid=parcel-submit]") == "Post and pay"
    shot("form")
    page.click("[data-testid=parcel-submit]")

    # A draft waits for its payment: the shipper lands on the pay page.
    page.wait_for_url("**/parcels/*/pay/")
    parcel = Parcel.objects.get(shipper=shipper)
    assert parcel.status == ParcelStatus.DRAFT
    price = format_money(parcel.price_total, parcel.currency)
    assert page.inner_text("[data-testid=pay-total]") == price
    assert page.inner_text("[data-testid=pay-courier-share]") == format_money(
        parcel.courier_share, parcel.currency
    )
    assert "saved" in page.inner_text("[data-testid=messages]")
    page.wait_for_selector("[data-testid=pay-submit]:enabled")
    assert page.locator(f"{CARD} input").count() == 5  # the stand-in's fake card inputs
    shot("pay-page")

    type_card(page, "4242424242424242")
    shot("card-filled")
    page.click("[data-testid=pay-submit]")

    page.wait_for_url(f"**/parcels/{parcel.pk}/")
    assert page.inner_text("[data-testid=status-badge]") == "Open for couriers"
    assert page.inner_text("[data-testid=payment-status]").startswith(
        "Paid — held in escrow until delivery."
    )
    assert "Your parcel is published" in page.inner_text("[data-testid=messages]")
    assert page.locator("[data-testid=pay-to-publish]").count() == 0
    shot("paid")

    parcel.refresh_from_db()
    payment = Payment.objects.get(parcel=parcel)
    assert parcel.status == ParcelStatus.OPEN
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, parcel.price_total)
    assert page.js_errors == []


def test_a_declined_card_then_a_good_one(page, shot, payments_on, localstripe_server):
    shipper = user_register(email="jan@example.com", password=PASSWORD, full_name="Jan")
    parcel = in_app_thread(make_parcel, shipper=shipper, description="Spare keys")
    log_in(page, "jan@example.com")

    # The unpaid draft offers to pay.
    page.goto(f"/parcels/{parcel.pk}/")
    shot("draft")
    page.click("[data-testid=pay-to-publish]")
    page.wait_for_url(f"**/parcels/{parcel.pk}/pay/")
    page.wait_for_selector("[data-testid=pay-submit]:enabled")

    # Submitting an empty card field says what is missing.
    page.click("[data-testid=pay-submit]")
    page.wait_for_selector("[data-testid=pay-error]:visible")
    assert "card" in page.inner_text("[data-testid=pay-error]").lower()

    type_card(page, "4000000000000002")
    page.click("[data-testid=pay-submit]")
    page.wait_for_selector("[data-testid=pay-error]:has-text('declined')")
    assert page.inner_text("[data-testid=pay-error]") == (
        "The payment provider refused: Your card was declined."
    )
    assert page.is_enabled("[data-testid=pay-submit]")
    shot("declined")
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DRAFT

    type_card(page, "4242424242424242")
    page.click("[data-testid=pay-submit]")
    page.wait_for_url(f"**/parcels/{parcel.pk}/")
    assert page.inner_text("[data-testid=status-badge]") == "Open for couriers"
    shot("paid")
    assert page.js_errors == []


def test_a_card_whose_bank_asks_for_authentication(page, shot, payments_on, localstripe_server):
    shipper = user_register(email="kim@example.com", password=PASSWORD, full_name="Kim")
    parcel = in_app_thread(make_parcel, shipper=shipper, description="Camera lens")
    log_in(page, "kim@example.com")
    page.goto(f"/parcels/{parcel.pk}/pay/")
    page.wait_for_selector("[data-testid=pay-submit]:enabled")

    type_card(page, "4000002500003155")
    page.click("[data-testid=pay-submit]")

    # localstripe's stand-in for the bank's 3-D Secure window.
    confirm = page.get_by_role("button", name="Complete authentication")
    confirm.wait_for()
    assert "confirm the payment" in page.inner_text("[data-testid=pay-progress]")
    shot("authentication")
    confirm.click()

    page.wait_for_url(f"**/parcels/{parcel.pk}/")
    assert page.inner_text("[data-testid=status-badge]") == "Open for couriers"
    assert Payment.objects.get(parcel=parcel).status == PaymentStatus.SUCCEEDED
    shot("paid")
    assert page.js_errors == []


def test_tip_the_courier_after_delivery(page, shot, payments_on, localstripe_server):
    shipper = user_register(email="lea@example.com", password=PASSWORD, full_name="Lea")
    courier = CourierFactory(full_name="Karla Kurier")
    parcel = in_app_thread(paid_and_delivered, shipper, courier, "Flowers")
    log_in(page, "lea@example.com")

    page.goto(f"/parcels/{parcel.pk}/")
    assert page.inner_text("[data-testid=payment-status]").startswith(
        "Paid and released on delivery"
    )
    page.wait_for_selector("[data-testid=tip-submit]:enabled")
    page.fill("#id_amount", "3.50")
    type_card(page, "4242424242424242", root="[data-testid=tip-card-element]")
    page.locator("[data-testid=tip]").scroll_into_view_if_needed()
    shot("tip-form")
    page.click("[data-testid=tip-submit]")

    page.wait_for_selector("[data-testid=tip-paid]")
    assert "goes to Karla in full" in page.inner_text("[data-testid=messages]")
    assert page.inner_text("[data-testid=tip-paid]").startswith("You tipped €3.50")
    shot("tipped")
    tip = Tip.objects.get()
    assert (tip.amount, tip.succeeded) == (350, True)
    assert page.js_errors == []


def test_the_couriers_payouts_page(page, shot, payments_on, stripe_connect):
    courier = CourierFactory(email="mo@example.com", full_name="Mo Courier")
    page.goto("/login/")
    page.fill("#id_username", "mo@example.com")
    page.fill("#id_password", COURIER_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/parcels/")  # a courier-only account: "this page is for shippers"

    page.goto("/payouts/")
    assert page.inner_text("[data-testid=account-state]") == "Not set up"
    shot("not-set-up")

    # Half-way through Stripe's onboarding, with money waiting for a delivered parcel.
    connect_onboarding_link(courier=courier)
    shipper = user_register(email="ned@example.com", password=PASSWORD, full_name="Ned")
    parcel = in_app_thread(paid_and_delivered, shipper, courier, "Records")
    page.click("[data-testid=nav-payouts]")
    page.wait_for_url("**/payouts/")
    assert page.inner_text("[data-testid=account-state]") == "Set-up not finished"
    share = format_money(parcel.courier_share, parcel.currency)
    assert page.inner_text("[data-testid=money-waiting]") == share
    assert page.locator("[data-testid=requirements-due] li").count() == 3
    shot("onboarding")

    stripe_connect.enable_payouts(ConnectedAccount.objects.get(courier=courier).stripe_account_id)
    page.reload()
    page.reload()  # the first visit re-read the account; the transfer went out after it
    assert page.inner_text("[data-testid=account-state]") == "Payouts enabled"
    assert page.inner_text("[data-testid=money-sent]") == share
    assert Transfer.objects.get().status == TransferStatus.PAID
    shot("enabled")
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_payment_pages_fit_the_screen(page, shot, payments_on, localstripe_server, width):
    shipper = user_register(email="ola@example.com", password=PASSWORD, full_name="Ola")
    parcel = in_app_thread(
        make_parcel, shipper=shipper, description="A parcel with a rather long description"
    )
    page.set_viewport_size({"width": width, "height": 844})
    log_in(page, "ola@example.com")
    for step, url in (("pay", f"/parcels/{parcel.pk}/pay/"), ("draft", f"/parcels/{parcel.pk}/")):
        page.goto(url)
        if step == "pay":
            page.wait_for_selector("[data-testid=pay-submit]:enabled")
        shot(step)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    assert page.js_errors == []
