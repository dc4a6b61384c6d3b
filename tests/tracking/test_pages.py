"""The shipper's tracking page and the recipient's public page."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from marketplace.core.geo import approximate
from marketplace.tracking.models import TrackingLink
from marketplace.tracking.services import pings_record, tracking_link_get_or_create
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.tracking.helpers import (
    deliver,
    fresh,
    lonlat,
    minutes_ago,
    new_delivery,
    pick_up,
    ping,
    start,
)
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery():
    return start(pick_up(new_delivery()))


def track_url(delivery) -> str:
    return reverse("tracking:delivery_track", args=[delivery.pk])


def public_url(delivery) -> str:
    link = tracking_link_get_or_create(delivery=delivery)
    return reverse("tracking:public_track", args=[link.token])


def config_of(html: str) -> dict:
    found = re.search(r'<script id="tracking-config" type="application/json">(.*?)</script>', html)
    assert found, html
    return json.loads(found.group(1))


def as_user(client, user):
    client.force_login(user)
    return client


# --- the shipper's page ------------------------------------------------------------------------


def test_the_shipper_follows_the_courier_on_a_map(client, delivery):
    # given
    sent = ping(4_000, at=minutes_ago(1))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[sent])

    # when
    response = as_user(client, delivery.parcel.shipper).get(track_url(delivery))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "leaflet/leaflet.js" in html and "leaflet/leaflet.css" in html
    assert "js/tracking.js" in html
    assert text_of(html, "track-status") == "In transit"
    assert re.fullmatch(r"\d\d:\d\d", text_of(html, "track-eta"))
    config = config_of(html)
    assert config["mode"] == "shipper"
    assert config["socket"] == f"/ws/deliveries/{delivery.pk}/track/"
    assert config["route"]["type"] == "LineString"
    parcel = delivery.parcel
    assert config["pickup"] == [parcel.pickup_point.y, parcel.pickup_point.x]
    assert config["dropoff"] == [parcel.dropoff_point.y, parcel.dropoff_point.x]
    assert config["position"]["lat"] == pytest.approx(sent["lat"], abs=1e-6)
    assert config["status"]["tracking"] is True


def test_the_route_shown_runs_from_the_pickup_to_the_drop_off_only(client, delivery):
    # when
    config = config_of(
        as_user(client, delivery.parcel.shipper).get(track_url(delivery)).content.decode()
    )

    # then: 2 km to 8 km along the 10 km route, not where the courier's trip starts or ends
    lons = [c[0] for c in config["route"]["coordinates"]]
    assert min(lons) == pytest.approx(lonlat(2_000)[0], abs=1e-4)
    assert max(lons) == pytest.approx(lonlat(8_000)[0], abs=1e-4)


def test_the_shipper_page_shows_no_courier_before_pickup(client):
    # given
    delivery = new_delivery()

    # when
    html = as_user(client, delivery.parcel.shipper).get(track_url(delivery)).content.decode()

    # then
    config = config_of(html)
    assert config["position"] is None
    assert config["status"]["tracking"] is False
    assert "once they have picked your parcel up" in text_of(html, "track-note")


def test_the_shipper_page_shows_no_courier_after_delivery(client, delivery):
    # given
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(7_900)])
    delivered = deliver(delivery)

    # when
    html = as_user(client, delivered.parcel.shipper).get(track_url(delivered)).content.decode()

    # then
    assert config_of(html)["position"] is None
    assert text_of(html, "track-remaining") == "—"
    assert "no longer shared" in text_of(html, "track-note")


def test_the_shipper_page_offers_the_public_link(client, delivery):
    html = as_user(client, delivery.parcel.shipper).get(track_url(delivery)).content.decode()
    token = TrackingLink.objects.get(delivery=delivery).token
    assert f"http://testserver/t/{token}/" in html


def test_staff_may_watch_but_get_no_public_link(client, delivery):
    before = set(TrackingLink.objects.values_list("token", flat=True))  # the recipient's
    response = as_user(client, UserFactory(is_staff=True)).get(track_url(delivery))
    assert response.status_code == 200
    assert 'data-testid="public-link"' not in response.content.decode()
    assert set(TrackingLink.objects.values_list("token", flat=True)) == before


@pytest.mark.parametrize("who", ["other shipper", "courier", "other courier"])
def test_anyone_else_gets_a_404(client, delivery, who):
    user = {
        "other shipper": ShipperFactory(),
        "courier": delivery.courier,
        "other courier": CourierFactory(),
    }[who]
    assert as_user(client, user).get(track_url(delivery)).status_code == 404


def test_an_unknown_delivery_is_a_404(client, delivery):
    client.force_login(delivery.parcel.shipper)
    assert client.get(reverse("tracking:delivery_track", args=[999_999])).status_code == 404


def test_the_shipper_page_needs_a_login(client, delivery):
    response = client.get(track_url(delivery))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


# --- the recipient's public page ---------------------------------------------------------------


def assert_nothing_private(html: str, delivery, *exact: tuple[float, float]) -> None:
    delivery = fresh(delivery)
    parcel, courier, shipper = delivery.parcel, delivery.courier, delivery.parcel.shipper
    for secret in (
        parcel.pickup_address,
        parcel.dropoff_address,
        parcel.pickup_contact_name,
        parcel.dropoff_contact_name,
        parcel.pickup_contact_phone,
        parcel.dropoff_contact_phone,
        parcel.description,
        shipper.full_name,
        shipper.email,
        courier.full_name,
        courier.email,
        courier.get_short_name(),
        delivery.pickup_code,
        delivery.delivery_code,
    ):
        assert secret not in html, secret
    points = [*exact, (parcel.pickup_point.x, parcel.pickup_point.y)]
    points.append((parcel.dropoff_point.x, parcel.dropoff_point.y))
    for lon, lat in points:
        assert f"{lat:.4f}" not in html and f"{lon:.4f}" not in html, (lon, lat)
    assert '"route"' not in html


def test_the_public_page_shows_status_eta_and_an_approximate_area_only(client, delivery):
    # given: the courier 4 km along, 120 m north of the route
    sent = ping(4_000, 120, at=minutes_ago(1))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[sent])
    area = approximate(Point(sent["lon"], sent["lat"], srid=4326))

    # when
    response = client.get(public_url(delivery))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert text_of(html, "public-status") == "In transit"
    assert re.search(r"\d\d:\d\d", text_of(html, "public-eta"))
    config = config_of(html)
    assert config["area"] == {"lat": area.y, "lon": area.x, "radius_m": 500}
    assert set(config) == {
        "mode",
        "socket",
        "type",
        "status",
        "status_label",
        "tracking",
        "eta",
        "eta_live",
        "area",
    }
    assert_nothing_private(html, delivery, (sent["lon"], sent["lat"]))
    assert 'content="noindex' in html
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_the_public_page_before_pickup_shows_the_planned_time_and_no_area(client):
    # given
    delivery = new_delivery()

    # when
    html = client.get(public_url(delivery)).content.decode()

    # then
    assert text_of(html, "public-status") == "Courier assigned"
    assert config_of(html)["area"] is None
    assert config_of(html)["eta_live"] is False
    assert "Planned for" in html
    assert_nothing_private(html, delivery)


def test_the_public_page_after_delivery_shows_the_status_only(client, delivery):
    # given
    sent = ping(7_900, -400, at=minutes_ago(1))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[sent])
    url = public_url(delivery)
    delivered = deliver(delivery)

    # when
    html = client.get(url).content.decode()

    # then
    assert text_of(html, "public-status") == "Delivered"
    config = config_of(html)
    assert (config["area"], config["eta"], config["tracking"]) == (None, None, False)
    assert_nothing_private(html, delivered, (sent["lon"], sent["lat"]))


@pytest.mark.parametrize("token", ["x" * 32, "not-a-real-token"])
def test_an_unknown_token_is_a_404(client, delivery, token):
    tracking_link_get_or_create(delivery=delivery)
    assert client.get(reverse("tracking:public_track", args=[token])).status_code == 404


def test_tokens_are_unguessable_and_distinct():
    tokens = {tracking_link_get_or_create(delivery=new_delivery()).token for _ in range(3)}
    assert len(tokens) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens)
