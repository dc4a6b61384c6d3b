"""The live pages in headless Chromium against uvicorn: pytest-django's live_server speaks WSGI
only, so the test starts `uvicorn config.asgi:application` on the test database itself
(marketplace.bench.live.server) and points the browser at it.

The courier's side (chat replies, pings) goes through the services in a thread of its own
(tests/browser/app_thread.py); the channel layer carries it to the shipper's open page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from marketplace.bench.live.server import LiveServer, uvicorn_server
from marketplace.chat.services import message_post
from marketplace.tracking.services import pings_record
from tests.browser.app_thread import in_app_thread
from tests.browser.conftest import SCREENSHOTS, _only_loopback, browser  # noqa: F401
from tests.factories.accounts import ShipperFactory
from tests.tracking.helpers import fresh, minutes_ago, new_delivery, pick_up, ping

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/15"
# The courier's marker (a Leaflet circleMarker, white ring): not the route, pins or accuracy.
COURIER_MARKER = '#tracking-map path.leaflet-interactive[stroke="#ffffff"]'


@pytest.fixture
def asgi_server(transactional_db: Any) -> Iterator[LiveServer]:
    with uvicorn_server(
        settings_module="config.settings.test",
        redis_url=REDIS_URL,
        extra_env={"DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"},
    ) as server:
        yield server


@pytest.fixture
def shipper_page(browser, asgi_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(
        base_url=asgi_server.http_url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.route("**/*", _only_loopback)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    yield page
    context.close()


def log_in(page: Any, user: Any, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}
    page.context.add_cookies([cookie])


def shot(page: Any, step: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"live-{step}.png"), full_page=True)


def test_shipper_chats_and_watches_the_courier_live(
    shipper_page: Any, asgi_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    page = shipper_page
    # given an assigned delivery, its shipper logged in on the chat page
    delivery = in_app_thread(new_delivery)
    shipper, courier = delivery.parcel.shipper, delivery.courier
    log_in(page, shipper, asgi_server.http_url)
    page.goto(reverse("chat:delivery_chat", args=[delivery.pk]))
    expect(page.get_by_test_id("chat")).to_have_attribute("data-state", "live")

    # when the shipper writes, and the courier answers from the app
    page.get_by_test_id("chat-input").fill("Hello! The parcel is at the front desk.")
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("chat-message")).to_have_count(1)
    in_app_thread(message_post, delivery=delivery, sender=courier, body="Thanks, there in 10")

    # then the answer appears without a reload
    expect(page.get_by_test_id("chat-message")).to_have_count(2)
    expect(page.get_by_test_id("chat-message").last).to_contain_text("Thanks, there in 10")
    shot(page, "chat")

    # given the parcel picked up, the shipper on the tracking page
    delivery = in_app_thread(pick_up, delivery)
    page.goto(reverse("tracking:delivery_track", args=[delivery.pk]))
    expect(page.get_by_test_id("tracking-map")).to_have_attribute("data-ready", "true")
    expect(page.locator(COURIER_MARKER)).to_have_count(0)

    # when the courier's first position arrives, the marker shows up
    in_app_thread(
        pings_record,
        delivery=fresh(delivery),
        courier=courier,
        pings=[ping(3_000, at=minutes_ago(2))],
    )
    marker = page.locator(COURIER_MARKER)
    expect(marker).to_have_count(1)
    first = marker.get_attribute("d")
    remaining = page.get_by_test_id("track-remaining").inner_text()
    shot(page, "track-first")

    # and when the next one arrives, 2 km further east, the marker moves there
    in_app_thread(
        pings_record,
        delivery=fresh(delivery),
        courier=courier,
        pings=[ping(5_000, at=minutes_ago(1))],
    )
    page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).getAttribute('d') !== before",
        arg=[COURIER_MARKER, first],
    )
    expect(page.get_by_test_id("track-remaining")).not_to_have_text(remaining)
    shot(page, "track-moved")
    assert page.js_errors == []


def test_a_real_browser_gets_the_close_codes_of_tracking_and_notifications(
    browser,  # noqa: F811
    asgi_server: LiveServer,
) -> None:
    # given a delivery, a stranger logged in, and a visitor who is not
    delivery = in_app_thread(new_delivery)
    stranger = in_app_thread(ShipperFactory)
    base = asgi_server.http_url

    def page_for(user: Any) -> Any:
        context = browser.new_context(base_url=base)
        context.route("**/*", _only_loopback)
        page = context.new_page()
        if user is not None:
            log_in(page, user, base)
        page.goto("/")
        return page

    def close_code(page: Any, path: str) -> int:
        return page.evaluate(
            """path => new Promise(resolve => {
                const ws = new WebSocket("ws://" + location.host + path);
                ws.onclose = event => resolve(event.code);
            })""",
            path,
        )

    anonymous, other = page_for(None), page_for(stranger)
    track = f"/ws/deliveries/{delivery.pk}/track/"

    # then each refusal reaches the page's close event with its code (not 1006)
    assert close_code(anonymous, "/ws/notifications/") == 4401
    assert close_code(anonymous, track) == 4401
    assert close_code(other, track) == 4403
    assert close_code(other, f"/ws/deliveries/{delivery.pk + 999}/track/") == 4404
    assert close_code(anonymous, "/ws/track/" + "x" * 32 + "/") == 4404
    anonymous.context.close()
    other.context.close()
