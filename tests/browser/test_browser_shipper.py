"""The shipper's journey in a real browser: sign up, log in, post a parcel on the map, follow it
to the courier and the delivery, and rate the courier."""

import math
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.accounts.services import user_register
from marketplace.core.money import format_money
from marketplace.deliveries.models import Delivery, DeliveryStatus, Rating
from marketplace.lifecycle.delivering import (
    delivery_confirm_delivered,
    delivery_confirm_pickup,
    delivery_start_transit,
    trip_start,
)
from marketplace.lifecycle.matching import offer_accept
from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from marketplace.parcels.models import Parcel, ParcelStatus
from tests.browser.app_thread import in_app_thread
from tests.factories.accounts import CourierFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip

pytestmark = pytest.mark.browser

PASSWORD = "browser-Secret-passphrase-5"


def latlng_at(center: tuple[float, float], zoom: int, dx: float, dy: float) -> tuple[float, float]:
    """The (lat, lon) `dx`, `dy` pixels from the centre of a Web Mercator map at `zoom`."""
    scale = 256 * 2**zoom
    lat0, lon0 = center
    sin0 = math.sin(math.radians(lat0))
    x = (lon0 + 180) / 360 * scale + dx
    y = (0.5 - math.log((1 + sin0) / (1 - sin0)) / (4 * math.pi)) * scale + dy
    lon = x / scale * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi - 2 * math.pi * y / scale)))
    return lat, lon


def pixel_at(center: tuple[float, float], zoom: int, lat: float, lon: float) -> tuple[float, float]:
    """The (dx, dy) in pixels from the centre of a Web Mercator map at `zoom` to (lat, lon)."""
    scale = 256 * 2**zoom

    def project(lat_: float, lon_: float) -> tuple[float, float]:
        sin = math.sin(math.radians(lat_))
        return (lon_ + 180) / 360 * scale, (
            0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)
        ) * scale

    (x0, y0), (x, y) = project(*center), project(lat, lon)
    return x - x0, y - y0


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/parcels/")


def test_sign_up(page, shot):
    page.goto("/")
    shot("home")
    page.click("[data-testid=nav-signup]")
    page.wait_for_url("**/signup/")
    page.fill("#id_email", "nina@example.com")
    page.fill("#id_full_name", "Nina Shipper")
    page.fill("#id_phone", "+49 30 5550000")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", "not the same")
    assert page.is_checked("#id_is_shipper")
    page.click("[data-testid=signup-submit]")

    # The mistake is shown next to its field; nothing is created.
    assert page.inner_text("[data-testid=error-password2]") == "The two passwords do not match."
    assert page.input_value("#id_email") == "nina@example.com"
    shot("signup-error")
    assert not User.objects.exists()

    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("[data-testid=signup-submit]")

    page.wait_for_url("**/parcels/")
    assert "Welcome to" in page.inner_text("[data-testid=messages]")
    assert page.is_visible("[data-testid=no-parcels]")
    shot("dashboard")
    user = User.objects.get()
    assert (user.email, user.full_name, user.is_shipper) == (
        "nina@example.com",
        "Nina Shipper",
        True,
    )
    assert page.js_errors == []


def test_log_in_and_out(page, shot):
    user_register(email="olga@example.com", password=PASSWORD, full_name="Olga")

    page.goto("/parcels/")
    page.wait_for_url("**/login/?next=/parcels/")
    page.fill("#id_username", "olga@example.com")
    page.fill("#id_password", "wrong password")
    page.click("[data-testid=login-submit]")
    assert "Wrong email or password" in page.inner_text("[data-testid=error-summary]")
    shot("login-error")

    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/parcels/")
    shot("dashboard")

    page.click("[data-testid=nav-profile]")
    page.wait_for_url("**/profile/")
    assert page.inner_text("[data-testid=profile-email]") == "olga@example.com"
    shot("profile")

    page.click("[data-testid=nav-logout]")
    page.wait_for_url(re.compile(r"^http://[^/]+/$"))
    page.wait_for_selector("[data-testid=nav-login]")
    shot("logged-out")
    page.goto("/parcels/")
    page.wait_for_url("**/login/?next=/parcels/")
    assert page.js_errors == []


def test_post_a_parcel_by_placing_both_points_on_the_map(page, shot):
    user_register(email="paula@example.com", password=PASSWORD, full_name="Paula")
    log_in(page, "paula@example.com")
    page.click("[data-testid=nav-post]")
    page.wait_for_url("**/parcels/new/")
    page.wait_for_selector("#parcel-map[data-ready=true]")
    shot("empty-form")

    # Place the two points with real mouse clicks on the map.
    box = page.locator("[data-testid=parcel-map]").bounding_box()
    assert box is not None
    centre = (box["width"] / 2, box["height"] / 2)
    pickup_px = (centre[0] - 160, centre[1] - 80)
    dropoff_px = (centre[0] + 180, centre[1] + 90)
    page.click("[data-testid=place-pickup]")
    page.locator("[data-testid=parcel-map]").click(position={"x": pickup_px[0], "y": pickup_px[1]})
    page.click("[data-testid=place-dropoff]")
    assert page.get_attribute("[data-testid=place-dropoff]", "aria-pressed") == "true"
    page.locator("[data-testid=parcel-map]").click(
        position={"x": dropoff_px[0], "y": dropoff_px[1]}
    )
    assert page.inner_text("[data-testid=pickup-coords]") != "not placed yet"
    assert page.inner_text("[data-testid=dropoff-coords]") != "not placed yet"
    assert page.locator(".map-pin").count() == 2

    # Fill in the rest, with a delivery window that ends before it starts.
    page.fill("#id_description", "Vinyl records")
    page.check("#id_size_class_1")
    page.fill("#id_weight_kg", "3.2")
    page.fill("#id_declared_value", "120")
    page.check("#id_prohibited_items_declared")
    page.fill("#id_pickup_address", "Alexanderplatz 1, Berlin")
    page.fill("#id_pickup_contact_name", "Paula")
    page.fill("#id_pickup_contact_phone", "+49 30 1234567")
    page.fill("#id_dropoff_address", "Kaiserdamm 2, Berlin")
    page.fill("#id_dropoff_contact_name", "Quentin")
    page.fill("#id_dropoff_contact_phone", "+49 30 7654321")
    delivery_start = timezone.localtime() + timedelta(days=2)
    page.fill("#id_delivery_window_start", delivery_start.strftime("%Y-%m-%dT%H:%M"))
    page.fill(
        "#id_delivery_window_end",
        (delivery_start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    )
    page.click("[data-testid=get-quote]")
    page.wait_for_selector("[data-testid=quote-total]")
    quoted = page.inner_text("[data-testid=quote-total]")
    assert re.fullmatch(r"€\d+\.\d{2}", quoted), quoted  # EUR in English: format_money's way
    shot("filled-form")
    page.click("[data-testid=parcel-submit]")

    # The error is next to its field, and nothing typed or placed is lost.
    page.wait_for_selector("[data-testid=error-delivery_window_end]")
    assert page.input_value("#id_description") == "Vinyl records"
    page.wait_for_selector("#parcel-map[data-ready=true]")
    assert page.locator(".map-pin").count() == 2
    shot("form-error")
    assert not Parcel.objects.exists()

    page.fill(
        "#id_delivery_window_end",
        (delivery_start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
    )
    page.click("[data-testid=parcel-submit]")

    page.wait_for_url("**/parcels/*/")
    assert page.inner_text("[data-testid=status-badge]") == "Open for couriers"
    parcel = Parcel.objects.get()
    price = format_money(parcel.price_total, parcel.currency)
    assert page.inner_text("[data-testid=price-total]") == price
    page.wait_for_selector("#parcel-map[data-ready=true]")
    assert page.locator(".map-pin").count() == 2
    shot("detail")

    assert parcel.status == ParcelStatus.OPEN
    assert parcel.description == "Vinyl records"
    assert parcel.weight_grams == 3_200
    assert parcel.declared_value == 12_000
    assert parcel.price_total > 0
    center = tuple(settings.MAP_DEFAULT_CENTER)
    zoom = settings.MAP_DEFAULT_ZOOM
    for point, (px, py) in ((parcel.pickup_point, pickup_px), (parcel.dropoff_point, dropoff_px)):
        lat, lon = latlng_at(center, zoom, px - centre[0], py - centre[1])
        # Within a couple of pixels (about 40 m at zoom 12) of where the mouse clicked.
        assert point.y == pytest.approx(lat, abs=0.0005)
        assert point.x == pytest.approx(lon, abs=0.0005)
    assert parcel.pickup_point.distance(parcel.dropoff_point) > 0.01
    assert parcel.pickup_point.x < parcel.dropoff_point.x  # pickup was left of the drop-off
    assert parcel.pickup_point.y > parcel.dropoff_point.y  # ... and above it

    page.click("[data-testid=nav-dashboard]")
    page.wait_for_url("**/parcels/")
    assert page.locator("[data-testid=parcel-row]").count() == 1
    shot("dashboard")
    assert page.js_errors == []


def test_follow_a_parcel_from_the_courier_to_the_rating(page, shot):
    """Post a parcel on the map; a courier (through the services, as the app would) accepts it,
    picks it up and delivers it with the codes read off the shipper's page; the page follows by
    itself; the shipper rates the courier."""
    shipper = user_register(email="sven@example.com", password=PASSWORD, full_name="Sven")
    courier = CourierFactory(full_name="Karla Kurier", email="karla@example.com")
    # The trip exists before the parcel, so the matching run after posting finds it.
    trip = make_trip(courier=courier)
    log_in(page, "sven@example.com")
    page.goto("/parcels/new/")
    page.wait_for_selector("#parcel-map[data-ready=true]")

    # Pickup at Alexanderplatz and drop-off in Charlottenburg, where Karla's trip passes.
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
    page.fill("#id_description", "Birthday cake")
    page.check("#id_size_class_1")
    page.fill("#id_weight_kg", "2")
    page.fill("#id_declared_value", "35")
    page.check("#id_prohibited_items_declared")
    page.fill("#id_pickup_address", "Alexanderplatz 1, Berlin")
    page.fill("#id_pickup_contact_name", "Sven")
    page.fill("#id_pickup_contact_phone", "+49 30 1234567")
    page.fill("#id_dropoff_address", "Kaiserdamm 2, Berlin")
    page.fill("#id_dropoff_contact_name", "Grandma Gerda")
    page.fill("#id_dropoff_contact_phone", "+49 30 7654321")
    shot("form")
    page.click("[data-testid=parcel-submit]")
    page.wait_for_url("**/parcels/*/")
    parcel = Parcel.objects.get(shipper=shipper)
    assert parcel.status == ParcelStatus.OPEN

    # Matching ran on commit (eager Celery in tests); running it again only fills free slots.
    in_app_thread(offers_make_for_parcel, parcel_id=parcel.pk)
    offer = Offer.objects.get(parcel=parcel, courier=courier, status=OfferStatus.PENDING)
    page.reload()
    assert page.inner_text("[data-testid=offer-status]") == (
        "Offered to 1 courier; waiting for one to accept."
    )
    assert "Karla" not in page.inner_text("main")
    page.wait_for_selector("[data-testid=parcel-page][data-live-url]", state="attached")
    shot("offered")

    # Karla accepts. The open page notices by itself (it asks every 10 s), without a reload.
    in_app_thread(offer_accept, offer_id=offer.pk, courier=courier)
    page.wait_for_selector("[data-testid=pickup-code]", timeout=15_000)
    assert page.inner_text("[data-testid=status-badge]") == "Courier assigned"
    assert page.inner_text("[data-testid=courier-name]") == "Karla"
    assert page.inner_text("[data-testid=courier-vehicle]") == "Bicycle"
    assert page.inner_text("[data-testid=delivery-status]") == "Courier assigned"
    assert "expected around" in page.inner_text("[data-testid=pickup-time]")
    assert "vs a dedicated van trip" in page.inner_text("[data-testid=co2-saved]")
    pickup_code = page.inner_text("[data-testid=pickup-code]").strip()
    assert re.fullmatch(r"\d{6}", pickup_code)
    assert page.locator("#parcel-map .map-pin").count() == 2  # the map was left alone
    shot("assigned")

    # At the door Sven tells Karla the code shown on his page; she confirms the pickup.
    delivery = Delivery.objects.get(parcel=parcel)
    in_app_thread(delivery_confirm_pickup, delivery=delivery, actor=courier, code=pickup_code)
    page.reload()
    assert page.inner_text("[data-testid=delivery-status]") == "Picked up"
    assert page.locator("[data-testid=pickup-code]").count() == 0
    delivery_code = page.inner_text("[data-testid=delivery-code]").strip()
    assert re.fullmatch(r"\d{6}", delivery_code)
    shot("picked-up")

    # On the way, and at the drop-off the recipient gives the delivery code from the page.
    in_app_thread(delivery_start_transit, delivery=delivery, actor=courier)
    in_app_thread(delivery_confirm_delivered, delivery=delivery, actor=courier, code=delivery_code)
    page.wait_for_selector("[data-testid=delivery-status][data-status=delivered]", timeout=15_000)
    assert page.inner_text("[data-testid=status-badge]") == "Delivered"
    history = page.inner_text("[data-testid=history]")
    for step in ("Pickup code confirmed", "In transit", "Delivery code confirmed"):
        assert step in history
    shot("delivered")

    # Sven rates Karla.
    page.click("[data-testid=star-5]")
    page.fill("#id_comment", "Cake arrived in one piece!")
    shot("rating-form")
    page.click("[data-testid=rating-submit]")
    page.wait_for_selector("[data-testid=my-rating]")
    assert "You rated 5★" in page.inner_text("[data-testid=my-rating]")
    assert page.locator("[data-testid=rating-form]").count() == 0
    shot("rated")

    rating = Rating.objects.get()
    assert (rating.rater, rating.ratee, rating.stars) == (shipper, courier, 5)
    assert rating.comment == "Cake arrived in one piece!"
    delivery.refresh_from_db()
    parcel.refresh_from_db()
    trip.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert parcel.status == ParcelStatus.DELIVERED
    assert trip.reserved_parcels == 0
    assert page.js_errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_pages_fit_the_screen(page, shot, width):
    def given():
        user = user_register(email="rita@example.com", password=PASSWORD, full_name="Rita")
        parcel = make_parcel(shipper=user, description="A parcel with a rather long description")
        courier = CourierFactory(full_name="Maximiliane Kurier")
        trip = make_trip(courier=courier)
        taken = make_parcel(shipper=user, description="A parcel a courier has taken")
        offers_make_for_parcel(parcel_id=taken.pk)
        offer_accept(offer_id=Offer.objects.get(parcel=taken).pk, courier=courier)
        trip_start(trip=trip, actor=courier)  # on the way: cancelling now costs a fee
        return parcel, taken

    parcel, taken = in_app_thread(given)
    page.set_viewport_size({"width": width, "height": 844})

    for step, url in (("home", "/"), ("signup", "/signup/"), ("login", "/login/")):
        page.goto(url)
        shot(step)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    log_in(page, "rita@example.com")
    for step, url in (
        ("dashboard", "/parcels/"),
        ("form", "/parcels/new/"),
        ("detail", f"/parcels/{parcel.pk}/"),
        ("detail-assigned", f"/parcels/{taken.pk}/"),
        ("edit", f"/parcels/{parcel.pk}/edit/"),
        ("profile", "/profile/"),
    ):
        page.goto(url)
        if page.locator("#parcel-map").count():
            page.wait_for_selector("#parcel-map[data-ready=true]")
        if step == "detail-assigned":
            page.click("[data-testid=cancel-open]")
            assert "cancellation fee" in page.inner_text("[data-testid=cancel-fee]")
        shot(step)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    assert page.js_errors == []
