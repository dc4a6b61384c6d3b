"""A German-speaking shipper in Europe/Berlin and a courier in Australia/Sydney, each in a
browser of their own (its language and zone): the pages in their language and local time, and
the shipper's data downloaded and account erased end to end."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.chat.models import Message
from marketplace.chat.services import message_post
from marketplace.lifecycle.cancelling import parcel_cancel
from tests.browser.conftest import SCREENSHOTS, _only_loopback
from tests.factories.accounts import PASSWORD
from tests.factories.parcels import make_parcel
from tests.tracking.helpers import new_delivery

pytestmark = pytest.mark.browser

SIGNUP_PASSWORD = "browser-Secret-passphrase-5"
BERLIN, SYDNEY = ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Sydney")


@pytest.fixture
def local_page(browser, live_server, transactional_db) -> Iterator[Callable[..., Any]]:
    """`local_page(locale, zone)`: a page in a browser that speaks `locale` and lives in `zone`."""
    contexts = []

    def open_page(locale: str, zone: str) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 900},
            locale=locale,
            timezone_id=zone,
            accept_downloads=True,
        )
        context.route("**/*", _only_loopback)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"local-{name}.png"), full_page=True)


def tomorrow_at(hour: int) -> datetime:
    return (timezone.now() + timedelta(days=1)).replace(
        hour=hour, minute=0, second=0, microsecond=0, tzinfo=UTC
    )


def test_a_german_shipper_in_berlin_signs_up_sees_german_local_times_downloads_and_erases(
    local_page,
):
    from playwright.sync_api import expect

    page = local_page("de-DE", "Europe/Berlin")

    # given a browser in German in Berlin, the sign-up page speaks German
    page.goto(reverse("web:signup"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.fill("#id_email", "greta@example.de")
    page.fill("#id_full_name", "Greta Versender")
    page.fill("#id_phone", "+49 30 5550101")
    page.fill("#id_password1", SIGNUP_PASSWORD)
    page.fill("#id_password2", SIGNUP_PASSWORD)
    page.click("[data-testid=signup-submit]")
    page.wait_for_url("**/parcels/**")

    # then the account keeps the browser's zone and the page's language
    greta = User.objects.get(email="greta@example.de")
    assert (greta.time_zone, greta.language) == ("Europe/Berlin", "de")

    # when she opens a parcel picked up tomorrow from 12:00 to 14:00 UTC
    start = tomorrow_at(12)
    parcel = make_parcel(
        shipper=greta,
        pickup_window_start=start,
        pickup_window_end=start + timedelta(hours=2),
        delivery_window_start=start + timedelta(hours=1),
        delivery_window_end=start + timedelta(hours=6),
    )
    page.goto(reverse("web:parcel_detail", args=[parcel.pk]))

    # then its times are Berlin's (UTC+1 in winter, +2 in summer), named, and in German
    offset = int(start.astimezone(BERLIN).utcoffset().total_seconds() // 3600)
    body = page.locator("main")
    expect(body).to_contain_text(f"{12 + offset:02d}:00")
    expect(body).not_to_contain_text(f"{start:%H:%M} \N{EN DASH}")
    expect(page.get_by_test_id("time-zone")).to_contain_text("Zeiten in Europe/Berlin")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    shot(page, "berlin-parcel")

    # when she downloads her data from the profile page
    page.goto(reverse("web:profile"))
    with page.expect_download() as download:
        page.get_by_test_id("profile-data").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))  # noqa: SIM115
    data = {
        name: json.loads(archive.read(name))
        for name in archive.namelist()
        if name.endswith(".json")
    }
    text = json.dumps(data)
    # then it holds her profile and her parcel
    assert "greta@example.de" in text
    assert "Greta Versender" in text
    assert parcel.description in text

    # when she asks to delete her account while her parcel is still open
    page.get_by_test_id("profile-erase").click()
    page.fill("#id_password", SIGNUP_PASSWORD)
    page.click("[data-testid=account-erase-submit]")
    # then the open parcel blocks it, and she is told why, in German
    expect(page.get_by_role("alert")).to_contain_text("1 Paket(e), die noch nicht zugestellt")
    shot(page, "berlin-erase-blocked")
    assert User.objects.get(pk=greta.pk).erased_at is None

    # when the parcel is cancelled and she deletes her account
    parcel_cancel(parcel=parcel, actor=greta, reason="changed my mind")
    page.goto(reverse("web:account_erase"))
    page.fill("#id_password", SIGNUP_PASSWORD)
    page.click("[data-testid=account-erase-submit]")
    page.wait_for_url("**/account-deleted/")
    shot(page, "berlin-erased")

    # then nothing personal is left on her account, and she cannot log in again
    greta.refresh_from_db()
    assert greta.erased_at is not None
    assert "greta" not in greta.email
    assert (greta.full_name, greta.phone, greta.is_active) == ("", "", False)
    page.goto(reverse("web:login"))
    page.fill("#id_username", "greta@example.de")
    page.fill("#id_password", SIGNUP_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()
    assert "/login/" in page.url  # refused: still on the login page
    assert "_auth_user_id" not in str(page.context.cookies())


def test_a_courier_in_sydney_reads_the_chat_in_english_at_sydney_times(local_page):
    from playwright.sync_api import expect

    # given a delivery whose courier lives in Sydney, and a message the shipper sent at 01:00 UTC
    delivery = new_delivery()
    courier = delivery.courier
    courier.time_zone = "Australia/Sydney"
    courier.save(update_fields=["time_zone"])
    message = message_post(delivery=delivery, sender=delivery.parcel.shipper, body="At the door?")
    sent = tomorrow_at(1) - timedelta(days=1)
    Message.objects.filter(pk=message.pk).update(created_at=sent)

    # when the courier opens the chat in an Australian English browser
    page = local_page("en-AU", "Australia/Sydney")
    page.goto(reverse("web:login"))
    page.fill("#id_username", courier.email)
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()
    page.goto(reverse("chat:delivery_chat", args=[delivery.pk]))

    # then the page is English and the message shows Sydney's time (UTC+11 in summer)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    local = sent.astimezone(SYDNEY)
    expect(page.get_by_test_id("chat-message").first).to_contain_text(local.strftime("%H:%M"))
    expect(page.get_by_test_id("time-zone")).to_contain_text("Times in Australia/Sydney")
    shot(page, "sydney-chat")
