"""Returns in a real browser: the shipper sends a delivered parcel back from its page, with a
photo; the recipient asks from the public tracking page."""

import io

import pytest
from PIL import Image

from marketplace.accounts.services import user_register
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.returns.models import ParcelReturn
from marketplace.tracking.models import TrackingLink
from tests.browser.app_thread import in_app_thread
from tests.returns.helpers import delivered_parcel

pytestmark = pytest.mark.browser

PASSWORD = "browser-Secret-passphrase-5"


def _png() -> dict:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "orange").save(out, format="PNG")
    return {"name": "dent.png", "mimeType": "image/png", "buffer": out.getvalue()}


def test_the_shipper_sends_a_delivered_parcel_back(page, shot):
    shipper = user_register(email="rosa@example.com", password=PASSWORD, full_name="Rosa")
    original, _ = in_app_thread(delivered_parcel, shipper=shipper)
    page.goto("/login/")
    page.fill("#id_username", "rosa@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/parcels/")

    page.goto(f"/parcels/{original.pk}/")
    assert "Send it back" in page.inner_text("[data-testid=return-request]")
    shot("offered")
    page.select_option("#id_reason_code", "damaged")
    page.fill("#id_reason", "The corner is crushed")
    page.set_input_files("#id_photos", [_png()])
    page.click("[data-testid=return-submit]")

    parcel_return = ParcelReturn.objects.get(original=original)
    page.wait_for_url(f"**/parcels/{parcel_return.reverse_id}/")
    assert f"parcel #{original.pk}" in page.inner_text("[data-testid=return-of]")
    shot("way-back")
    assert Parcel.objects.get(pk=parcel_return.reverse_id).status == ParcelStatus.OPEN
    assert parcel_return.photos.count() == 1

    page.click("[data-testid=return-original-link]")
    page.wait_for_url(f"**/parcels/{original.pk}/")
    assert page.inner_text("[data-testid=return-status]") == "Approved (on its way back)"
    assert page.query_selector("[data-testid=return-form]") is None
    shot("original")
    assert page.js_errors == []


def test_the_recipient_asks_from_the_tracking_link(page, shot):
    original, delivery = in_app_thread(delivered_parcel)
    token = TrackingLink.objects.get_or_create(delivery=delivery)[0].token

    page.goto(f"/t/{token}/")
    page.select_option("#id_reason_code", "other")  # "other" needs words
    page.click("[data-testid=public-return-submit]")
    page.wait_for_selector("[data-testid=public-return-error]")
    assert "Say why the parcel goes back." in page.inner_text("main")
    shot("error")

    page.select_option("#id_reason_code", "other")
    page.fill("#id_reason", "Two sizes too small")
    page.click("[data-testid=public-return-submit]")
    page.wait_for_selector("[data-testid=public-return]")
    assert "Requested" in page.inner_text("[data-testid=public-return-status]")
    shot("asked")
    assert ParcelReturn.objects.get(original=original).reason == "Two sizes too small"
    assert page.js_errors == []
