"""The shipper's parcel page once couriers come in: offers, the assigned courier, codes, the
live status fragment, cancelling with a fee, ratings, expiry. States are built through services."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.core.money import format_money
from marketplace.deliveries.models import Delivery, DeliveryEvent, DeliveryStatus, Rating
from marketplace.deliveries.services import rating_create
from marketplace.lifecycle.cancelling import delivery_cancel_by_courier
from marketplace.lifecycle.delivering import (
    delivery_confirm_delivered,
    delivery_confirm_pickup,
    delivery_fail,
    delivery_start_transit,
    trip_start,
)
from marketplace.lifecycle.matching import offer_accept, parcels_expire
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip
from marketplace.web.selectors import parcel_timeline
from tests.factories.accounts import CourierFactory
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db

CSS = Path(settings.BASE_DIR) / "static" / "css" / "site.css"


def courier_on_the_route(full_name: str = "Karla Kurier", **trip_overrides):
    """A verified courier on a bike whose trip passes the parcels' pickup and drop-off."""
    courier = CourierFactory(full_name=full_name, email=f"{full_name.split()[0].lower()}@ex.com")
    return courier, make_trip(courier=courier, **trip_overrides)


def assign(parcel: Parcel, courier: User) -> Delivery:
    offers_make_for_parcel(parcel_id=parcel.pk)
    offer = Offer.objects.get(parcel=parcel, courier=courier)
    return offer_accept(offer_id=offer.pk, courier=courier)


def deliver(delivery: Delivery) -> Delivery:
    courier = delivery.courier
    delivery = delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivery = delivery_start_transit(delivery=delivery, actor=courier)
    return delivery_confirm_delivered(delivery=delivery, actor=courier, code=delivery.delivery_code)


def detail(client, parcel: Parcel) -> str:
    response = client.get(reverse("web:parcel_detail", args=[parcel.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- while open: offers ----------------------------------------------------------------------


def test_open_parcel_says_how_many_couriers_have_an_offer_without_naming_them(alice_client, alice):
    courier_on_the_route("Karla Kurier")
    courier_on_the_route("Otto Overland")
    parcel = make_parcel(shipper=alice)

    offers = offers_make_for_parcel(parcel_id=parcel.pk)
    html = detail(alice_client, parcel)

    assert len(offers) == 2
    assert text_of(html, "offer-status") == "Offered to 2 couriers; waiting for one to accept."
    for secret in ("Karla", "Otto", "Kurier", "Overland", "karla@ex.com"):
        assert secret not in html
    assert 'data-testid="pickup-code"' not in html


def test_offers_that_expired_or_were_declined_do_not_count(alice_client, alice):
    courier_on_the_route("Karla Kurier")
    otto, _ = courier_on_the_route("Otto Overland")
    parcel = make_parcel(shipper=alice)
    offers_make_for_parcel(parcel_id=parcel.pk)
    Offer.objects.filter(parcel=parcel, courier=otto).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    html = detail(alice_client, parcel)

    assert text_of(html, "offer-status") == "Offered to 1 courier; waiting for one to accept."


def test_open_parcel_without_a_fitting_trip_says_we_keep_looking(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    html = detail(alice_client, parcel)

    assert text_of(html, "offer-status").startswith(
        "No courier's trip fits yet — we keep looking until the pickup window closes"
    )
    assert 'data-pending-offers="0"' in html


# --- assigned: courier, times, codes ---------------------------------------------------------


def test_assigned_parcel_shows_the_courier_codes_times_and_co2(alice_client, alice, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    courier, _ = courier_on_the_route("Karla Kurier")
    parcel = make_parcel(shipper=alice)

    delivery = assign(parcel, courier)
    html = detail(alice_client, parcel)

    assert text_of(html, "status-badge") == "Courier assigned"
    assert text_of(html, "courier-name") == "Karla"
    assert "Kurier" not in html and courier.email not in html  # first name only
    assert text_of(html, "courier-vehicle") == "Bicycle"
    assert text_of(html, "delivery-status") == "Courier assigned"
    assert text_of(html, "pickup-code") == delivery.pickup_code
    assert text_of(html, "delivery-code") == delivery.delivery_code
    assert len(delivery.pickup_code) == 6
    berlin_pickup = timezone.localtime(delivery.predicted_pickup_at).strftime("%a %-d %b, %H:%M")
    berlin_dropoff = timezone.localtime(delivery.predicted_dropoff_at).strftime("%a %-d %b, %H:%M")
    assert text_of(html, "pickup-time") == f"expected around {berlin_pickup}"
    assert text_of(html, "dropoff-time") == f"expected around {berlin_dropoff}"
    assert "Times are in Europe/Berlin." in html
    assert delivery.co2_saved_grams > 0
    assert text_of(html, "co2-saved") == (
        f"about {delivery.co2_saved_grams / 1000:.1f} kg vs a dedicated van trip"
    )
    # The courier's side of each step is in the history too.
    assert re.findall(r'data-testid="history-event" data-to-status="(\w+)"', html) == [
        "draft",
        "open",
        "matched",
    ]
    assert text_of(html, "history-courier-note") == "Courier Offer accepted"
    # No more offers, no edit; cancelling is still possible and free (the trip has not started).
    assert 'data-testid="offer-status"' not in html
    assert reverse("web:parcel_edit", args=[parcel.pk]) not in html
    assert 'data-testid="cancel-form"' in html
    assert 'data-testid="cancel-fee"' not in html
    assert "cancelling is free" in html


def test_after_pickup_the_pickup_code_is_gone_and_the_delivery_code_stays(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)

    delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    html = detail(alice_client, parcel)

    assert text_of(html, "status-badge") == "Picked up"
    assert text_of(html, "delivery-status") == "Picked up"
    assert 'data-testid="pickup-code"' not in html
    assert text_of(html, "delivery-code") == delivery.delivery_code
    assert text_of(html, "pickup-time").startswith("picked up ")
    assert "Pickup code confirmed" in html
    assert 'data-testid="cancel-form"' not in html


def test_a_failed_attempt_shows_the_couriers_reason(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    delivery = delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivery = delivery_start_transit(delivery=delivery, actor=courier)

    delivery_fail(delivery=delivery, actor=courier, reason="Nobody at home")
    html = detail(alice_client, parcel)

    assert text_of(html, "delivery-status") == "Delivery attempt failed"
    assert "Nobody at home" in text_of(html, "failure-reason")
    assert text_of(html, "delivery-code") == delivery.delivery_code


def test_a_parcel_given_back_by_its_courier_is_offered_again(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)

    delivery_cancel_by_courier(delivery=delivery, actor=courier, reason="Flat tyre")
    html = detail(alice_client, parcel)

    assert text_of(html, "status-badge") == "Open for couriers"
    assert 'data-testid="given-back"' in html
    assert 'data-testid="pickup-code"' not in html
    assert text_of(html, "offer-status").startswith("No courier's trip fits yet")


def test_no_one_else_ever_sees_the_codes(client, bob_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    codes = (delivery.pickup_code, delivery.delivery_code)

    for name in ("web:parcel_detail", "web:parcel_status"):
        response = bob_client.get(reverse(name, args=[parcel.pk]))
        assert response.status_code == 404, name
        assert not any(code in response.content.decode() for code in codes)
    renew = bob_client.post(reverse("web:parcel_reissue_code", args=[parcel.pk, "pickup"]))
    assert renew.status_code == 404

    # Staff see the parcel and its courier, but not the codes (nor the live fragment).
    admin = User.objects.create_superuser(email="admin@example.com", password="x", full_name="Ad")
    client.force_login(admin)
    html = detail(client, parcel)
    assert text_of(html, "courier-name") == "Karla"
    assert not any(code in html for code in codes)
    assert "shown to the shipper only" in html
    assert client.get(reverse("web:parcel_status", args=[parcel.pk])).status_code == 404
    assert (
        client.post(reverse("web:parcel_reissue_code", args=[parcel.pk, "delivery"])).status_code
        == 404
    )

    delivery.refresh_from_db()
    assert (delivery.pickup_code, delivery.delivery_code) == codes


def test_the_courier_does_not_see_the_shippers_page(client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    assign(parcel, courier)
    client.force_login(courier)

    assert client.get(reverse("web:parcel_detail", args=[parcel.pk])).status_code == 403
    assert client.get(reverse("web:parcel_status", args=[parcel.pk])).status_code == 403


def test_owner_issues_a_new_pickup_code(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    old_pickup, old_delivery = delivery.pickup_code, delivery.delivery_code
    Delivery.objects.filter(pk=delivery.pk).update(pickup_code_attempts=5)  # locked out

    response = alice_client.post(
        reverse("web:parcel_reissue_code", args=[parcel.pk, "pickup"]), follow=True
    )

    delivery.refresh_from_db()
    assert delivery.pickup_code != old_pickup
    assert delivery.pickup_code_attempts == 0
    assert delivery.delivery_code == old_delivery
    html = response.content.decode()
    assert "Here is a new pickup code. The old one no longer works." in html
    assert text_of(html, "pickup-code") == delivery.pickup_code
    # The new code works at pickup; the old one no longer does.
    delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)


def test_owner_issues_a_new_delivery_code(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    old_delivery = delivery.delivery_code

    response = alice_client.post(reverse("web:parcel_reissue_code", args=[parcel.pk, "delivery"]))

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.delivery_code != old_delivery


def test_renewing_a_code_is_post_only_and_knows_two_kinds(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    before = (delivery.pickup_code, delivery.delivery_code)

    get = alice_client.get(reverse("web:parcel_reissue_code", args=[parcel.pk, "pickup"]))
    odd = alice_client.post(reverse("web:parcel_reissue_code", args=[parcel.pk, "secret"]))

    assert get.status_code == 405
    assert odd.status_code == 404
    delivery.refresh_from_db()
    assert (delivery.pickup_code, delivery.delivery_code) == before


def test_no_code_to_renew_before_a_courier_or_after_delivery(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    response = alice_client.post(
        reverse("web:parcel_reissue_code", args=[parcel.pk, "pickup"]), follow=True
    )
    assert "there is no code to renew" in response.content.decode()

    courier, _ = courier_on_the_route()
    delivery = deliver(assign(parcel, courier))
    code = delivery.delivery_code
    response = alice_client.post(
        reverse("web:parcel_reissue_code", args=[parcel.pk, "delivery"]), follow=True
    )
    assert "The delivery is over." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.delivery_code == code


def test_the_history_merges_the_couriers_steps_by_time(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = deliver(assign(parcel, courier))
    # A delivery step that did not move the parcel (say, one an admin wrote) stands alone.
    later = timezone.now() + timedelta(minutes=1)
    odd = DeliveryEvent.objects.create(
        delivery=delivery, from_status="delivered", to_status="delivered", note="Photo checked"
    )
    DeliveryEvent.objects.filter(pk=odd.pk).update(created_at=later)

    timeline = parcel_timeline(parcel=parcel)
    html = detail(alice_client, parcel)

    assert [(e.source, e.to_status, e.courier_note) for e in timeline] == [
        ("parcel", "draft", ""),
        ("parcel", "open", ""),
        ("parcel", "matched", "Offer accepted"),
        ("parcel", "picked_up", "Pickup code confirmed"),
        ("parcel", "in_transit", ""),  # both sides said "In transit"
        ("parcel", "delivered", "Delivery code confirmed"),
        ("delivery", "delivered", ""),
    ]
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert html.count('data-testid="history-event"') == 6
    assert text_of(html, "history-delivery-event").endswith("Courier Delivered Photo checked")


# --- the live status fragment ----------------------------------------------------------------


def test_the_page_of_a_moving_parcel_refreshes_itself(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    html = detail(alice_client, parcel)

    url = reverse("web:parcel_status", args=[parcel.pk])
    assert f'data-live-url="{url}"' in html
    assert 'data-live-seconds="10"' in html
    assert "js/parcel-live.js" in html


def test_the_status_fragment_changes_version_when_the_parcel_moves(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    url = reverse("web:parcel_status", args=[parcel.pk])

    first = alice_client.get(url)
    again = alice_client.get(url)
    delivery = assign(parcel, courier)
    assigned = alice_client.get(url)

    assert first.status_code == 200
    assert "no-cache" in first["Cache-Control"] or "no-store" in first["Cache-Control"]
    version = re.compile(r'data-live-root data-version="(\w+)" data-live="(\w+)"')
    v1, live1 = version.search(first.content.decode()).groups()
    v2, _ = version.search(again.content.decode()).groups()
    v3, live3 = version.search(assigned.content.decode()).groups()
    assert v1 == v2 != v3
    assert live1 == live3 == "true"
    fragment = assigned.content.decode()
    assert "<html" not in fragment
    assert 'data-live-part="summary"' in fragment and 'data-live-part="history"' in fragment
    assert text_of(fragment, "pickup-code") == delivery.pickup_code
    assert 'id="parcel-map"' not in fragment  # the map stays as it is


def test_a_delivered_parcel_stops_refreshing(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    deliver(assign(parcel, courier))

    html = detail(alice_client, parcel)
    fragment = alice_client.get(reverse("web:parcel_status", args=[parcel.pk])).content.decode()

    assert "data-live-url" not in html and "js/parcel-live.js" not in html
    assert 'data-live="false"' in fragment


def test_the_status_fragment_needs_a_login(client, alice):
    parcel = make_parcel(shipper=alice)

    response = client.get(reverse("web:parcel_status", args=[parcel.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login"))


# --- cancelling once a courier is assigned ---------------------------------------------------


def test_cancel_while_the_courier_is_on_the_way_shows_and_charges_the_fee(alice_client, alice):
    courier, trip = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    trip_start(trip=trip, actor=courier)
    fee = format_money(min(settings.CANCELLATION_FEE, parcel.price_total), parcel.currency)

    html = detail(alice_client, parcel)
    assert fee in text_of(html, "cancel-fee")
    assert re.search(rf'data-testid="cancel-submit">Cancel parcel and pay {fee} fee<', html)

    response = alice_client.post(
        reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": "Plans changed"}, follow=True
    )

    html = response.content.decode()
    assert f"{fee} of the price goes to them as a cancellation fee" in html
    parcel.refresh_from_db()
    delivery.refresh_from_db()
    trip.refresh_from_db()
    assert parcel.status == ParcelStatus.CANCELLED
    assert delivery.status == DeliveryStatus.CANCELLED
    assert delivery.cancelled_by == "shipper"
    assert delivery.cancellation_fee == min(settings.CANCELLATION_FEE, parcel.price_total)
    assert (trip.reserved_parcels, trip.reserved_weight_grams) == (0, 0)
    assert text_of(html, "status-badge") == "Cancelled"
    assert text_of(html, "delivery-status") == "Cancelled"
    assert fee in text_of(html, "cancelled-note")
    assert f"courier already on the way: fee {fee}" in text_of(html, "history")
    assert 'data-testid="pickup-code"' not in html
    assert 'data-testid="cancel-form"' not in html


def test_cancel_before_the_courier_set_off_is_free(alice_client, alice):
    courier, trip = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)

    response = alice_client.post(
        reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": ""}, follow=True
    )

    assert "The parcel is cancelled." in response.content.decode()
    assert "cancellation fee" not in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.cancellation_fee) == (DeliveryStatus.CANCELLED, 0)
    assert Trip.objects.get(pk=trip.pk).reserved_parcels == 0


# --- ratings ---------------------------------------------------------------------------------


def test_rating_the_courier_after_delivery_once(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = assign(parcel, courier)
    url = reverse("web:parcel_rate", args=[parcel.pk])

    # Not before the parcel is delivered.
    early = alice_client.post(url, {"stars": "5"}, follow=True)
    assert "Ratings open once the parcel is delivered." in early.content.decode()
    assert not Rating.objects.exists()

    deliver(delivery)
    html = detail(alice_client, parcel)
    assert text_of(html, "status-badge") == "Delivered"
    assert text_of(html, "delivery-status") == "Delivered"
    assert 'data-testid="rating-form"' in html
    assert html.count('name="stars"') == 5
    assert 'data-testid="delivery-code"' not in html

    response = alice_client.post(url, {"stars": "4", "comment": "Quick and kind"}, follow=True)

    rating = Rating.objects.get()
    assert (rating.rater, rating.ratee, rating.stars, rating.comment) == (
        alice,
        courier,
        4,
        "Quick and kind",
    )
    html = response.content.decode()
    assert "Thank you for rating your courier." in html
    assert text_of(html, "my-rating").startswith("★★★★☆ You rated 4★")
    assert 'data-testid="rating-form"' not in html

    again = alice_client.post(url, {"stars": "1", "comment": "Changed my mind"}, follow=True)

    assert "You have already rated this delivery." in again.content.decode()
    assert 'class="message message-error"' in again.content.decode()
    assert list(Rating.objects.values_list("stars", "comment")) == [(4, "Quick and kind")]


@pytest.mark.parametrize("stars", ["", "0", "6", "four"])
def test_a_rating_needs_one_to_five_stars(alice_client, alice, stars):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    deliver(assign(parcel, courier))

    response = alice_client.post(reverse("web:parcel_rate", args=[parcel.pk]), {"stars": stars})

    assert response.status_code == 400
    assert 'data-testid="error-stars"' in response.content.decode()
    assert not Rating.objects.exists()


def test_only_the_shipper_rates_on_the_site(bob_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    deliver(assign(parcel, courier))

    response = bob_client.post(reverse("web:parcel_rate", args=[parcel.pk]), {"stars": "1"})

    assert response.status_code == 404
    assert not Rating.objects.exists()


def test_the_couriers_rating_of_the_shipper_is_shown(alice_client, alice):
    courier, _ = courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    delivery = deliver(assign(parcel, courier))

    rating_create(delivery=delivery, rater=courier, stars=5, comment="Well packed")
    html = detail(alice_client, parcel)

    assert text_of(html, "their-rating") == "★★★★★ Karla rated you 5★: Well packed"
    assert 'data-testid="rating-form"' in html  # Alice has not rated yet


# --- expired ---------------------------------------------------------------------------------


def test_an_expired_parcel_says_why(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    parcels_expire(now=parcel.pickup_window_end + timedelta(minutes=1))
    html = detail(alice_client, parcel)

    assert text_of(html, "status-badge") == "Expired without a courier"
    assert text_of(html, "expired-reason") == (
        "No courier's trip passed the pickup and drop-off in time."
    )
    assert 'data-testid="cancel-form"' not in html
    assert "data-live-url" not in html


def test_an_expired_parcel_that_was_offered_says_so(alice_client, alice):
    courier_on_the_route()
    parcel = make_parcel(shipper=alice)
    offers_make_for_parcel(parcel_id=parcel.pk)

    parcels_expire(now=parcel.pickup_window_end + timedelta(minutes=1))
    html = detail(alice_client, parcel)

    assert text_of(html, "expired-reason") == (
        "No courier accepted it before the pickup window closed (1 courier(s) were offered it)."
    )
    assert Offer.objects.get().status == OfferStatus.WITHDRAWN


# --- dashboard badges ------------------------------------------------------------------------


def test_the_dashboard_has_a_badge_for_every_parcel_status(alice_client, alice):
    for status in ParcelStatus:
        parcel = make_parcel(shipper=alice, description=f"In {status.value}")
        # Display only: set the status directly, every one of them at once.
        Parcel.objects.filter(pk=parcel.pk).update(status=status)

    response = alice_client.get(reverse("web:dashboard"), {"page": 1})
    html = response.content.decode()
    html += alice_client.get(reverse("web:dashboard"), {"page": 2}).content.decode()

    css = CSS.read_text()
    for status in ParcelStatus:
        assert f'class="badge status status-{status.value}"' in html, status
        assert f">{status.label}</span>" in html, status
        assert re.search(rf"\.status-{status.value}\b[^{{]*\{{", css), f"no CSS for {status}"
