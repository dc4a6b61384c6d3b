"""The shipper's parcel pages: dashboard, post, detail, edit, cancel, quote."""

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.core.money import format_money
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.parcels.models import Parcel, ParcelEvent, ParcelStatus
from marketplace.parcels.services import parcel_transition
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG, KREUZBERG
from tests.factories.parcels import make_parcel
from tests.web.conftest import local_input, parcel_post_data, png_upload

pytestmark = pytest.mark.django_db


def snapshot(parcel: Parcel) -> dict:
    """Everything about a parcel a forbidden request must leave as it was."""
    parcel.refresh_from_db()
    return {
        "status": parcel.status,
        "description": parcel.description,
        "updated_at": parcel.updated_at,
        "price_total": parcel.price_total,
        "events": list(parcel.events.values_list("id", flat=True)),
    }


# --- dashboard -------------------------------------------------------------------------------


def test_dashboard_lists_only_my_parcels_newest_first(alice_client, alice, bob):
    older = make_parcel(shipper=alice, description="Older parcel")
    newer = make_parcel(shipper=alice, description="Newer parcel")
    make_parcel(shipper=bob, description="Bob's secret parcel")

    response = alice_client.get(reverse("web:dashboard"))

    assert response.status_code == 200
    assert [p.pk for p in response.context["parcels"]] == [newer.pk, older.pk]
    html = response.content.decode()
    assert "Bob&#x27;s secret parcel" not in html and "Bob's secret parcel" not in html
    assert html.index("Newer parcel") < html.index("Older parcel")
    assert "Open for couriers" in html
    assert format_money(newer.price_total, newer.currency) in html


def test_dashboard_is_paginated(alice_client, alice):
    for i in range(12):
        make_parcel(shipper=alice, description=f"Parcel {i}")

    first = alice_client.get(reverse("web:dashboard"))
    second = alice_client.get(reverse("web:dashboard"), {"page": 2})

    assert len(first.context["parcels"]) == 10
    assert len(second.context["parcels"]) == 2
    assert "Page 2 of 2" in second.content.decode()


def test_dashboard_without_parcels_invites_to_post(alice_client):
    response = alice_client.get(reverse("web:dashboard"))

    assert 'data-testid="no-parcels"' in response.content.decode()


# --- post a parcel ---------------------------------------------------------------------------


def test_post_form_has_the_map_and_its_config(alice_client):
    response = alice_client.get(reverse("web:parcel_create"))

    assert response.status_code == 200
    html = response.content.decode()
    for marker in (
        'id="parcel-map"',
        'data-testid="place-pickup"',
        'data-testid="place-dropoff"',
        'name="pickup_lat"',
        'name="dropoff_lon"',
        'type="datetime-local"',
        "leaflet/leaflet.js",
        "js/parcel-map.js",
        "Medium (up to 45 x 35 x 20 cm)",
    ):
        assert marker in html, marker
    config = json.loads(re.search(r'id="map-config"[^>]*>(.*?)</script>', html).group(1))
    assert set(config) == {"tileUrl", "attribution", "center", "zoom"}
    # The windows start filled in, in the future.
    assert response.context["form"].initial["pickup_window_start"] > timezone.now()


def test_post_a_parcel(alice_client, alice):
    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data())

    parcel = Parcel.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("web:parcel_detail", args=[parcel.pk])
    assert parcel.shipper == alice
    assert parcel.status == ParcelStatus.OPEN
    assert parcel.published_at is not None
    assert parcel.description == "Box of books"
    assert parcel.size_class == "M"
    assert parcel.weight_grams == 2_500
    assert parcel.declared_value == 4_000
    assert parcel.pickup_point.coords == pytest.approx(ALEXANDERPLATZ)
    assert parcel.dropoff_point.coords == pytest.approx(CHARLOTTENBURG)
    assert parcel.currency == "EUR"
    assert parcel.price_total > 0
    assert parcel.price_total == parcel.platform_fee + parcel.courier_share
    assert 7_000 < parcel.distance_m < 8_000
    assert list(parcel.events.values_list("from_status", "to_status")) == [
        ("", "draft"),
        ("draft", "open"),
    ]


def test_post_a_parcel_with_a_photo(alice_client):
    response = alice_client.post(
        reverse("web:parcel_create"), parcel_post_data(photo=png_upload("books.png"))
    )

    assert response.status_code == 302
    parcel = Parcel.objects.get()
    assert parcel.photo.name.startswith("parcels/")
    assert parcel.photo.name.endswith(".png")


def test_weights_and_values_are_converted_to_grams_and_minor_units(alice_client, settings):
    settings.MARKETPLACE_CURRENCY = "JPY"

    response = alice_client.post(
        reverse("web:parcel_create"),
        parcel_post_data(weight_kg="1.234", declared_value="12000"),
    )

    assert response.status_code == 302, response.context["form"].errors
    parcel = Parcel.objects.get()
    assert parcel.weight_grams == 1_234
    assert parcel.declared_value == 12_000  # yen have no minor unit
    assert parcel.currency == "JPY"


def test_window_times_are_read_in_the_current_time_zone(alice_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    start = (
        (timezone.now() + timedelta(days=3))
        .astimezone(berlin)
        .replace(hour=9, minute=30, second=0, microsecond=0)
    )
    data = parcel_post_data(
        pickup_window_start=start.strftime("%Y-%m-%dT%H:%M"),
        pickup_window_end=(start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        delivery_window_start=start.strftime("%Y-%m-%dT%H:%M"),
        delivery_window_end=(start + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"),
    )

    response = alice_client.post(reverse("web:parcel_create"), data)

    assert response.status_code == 302
    parcel = Parcel.objects.get()
    assert parcel.pickup_window_start == start
    assert parcel.pickup_window_start.astimezone(berlin).hour == 9


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"pickup_lat": "", "pickup_lon": ""},
            "pickup_lat",
            "Place the pickup point on the map",
            id="missing-pickup-point",
        ),
        pytest.param(
            {"dropoff_lat": None, "dropoff_lon": None},
            "dropoff_lat",
            "Place the drop-off point on the map",
            id="missing-dropoff-point",
        ),
        pytest.param(
            {"pickup_lat": "95", "pickup_lon": "13.4"},
            "pickup_lat",
            "latitude 95.0 is outside -90..90",
            id="pickup-off-the-globe",
        ),
        pytest.param(
            {"dropoff_lat": str(ALEXANDERPLATZ[1]), "dropoff_lon": str(ALEXANDERPLATZ[0])},
            "dropoff_lat",
            "Drop-off must be at least 50 m from pickup",
            id="dropoff-on-pickup",
        ),
        pytest.param(
            {"weight_kg": "-2"},
            "weight_kg",
            "Weight must be a positive number",
            id="negative-weight",
        ),
        pytest.param(
            {"weight_kg": "250"},
            "weight_kg",
            "Weight may be at most 200 kg",
            id="too-heavy",
        ),
        pytest.param(
            {"declared_value": "-1"},
            "declared_value",
            "Declared value must be between 0",
            id="negative-value",
        ),
        pytest.param(
            {"declared_value": "10.005"},
            "declared_value",
            "no more than 2 decimal places",
            id="value-beyond-cents",
        ),
        pytest.param(
            {"size_class": "XXL"},
            "size_class",
            "Select a valid choice",
            id="unknown-size-class",
        ),
        pytest.param(
            {"description": ""},
            "description",
            "This field is required",
            id="no-description",
        ),
        pytest.param(
            {"pickup_window_start": "tomorrow-ish"},
            "pickup_window_start",
            "Enter a valid date/time",
            id="garbled-time",
        ),
    ],
)
def test_post_with_a_bad_input_shows_the_error_next_to_its_field(
    alice_client, overrides, field, message
):
    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data(**overrides))

    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    html = response.content.decode()
    testid = {"pickup_lat": "pickup_point", "dropoff_lat": "dropoff_point"}.get(field, field)
    assert f'data-testid="error-{testid}"' in html
    assert 'data-testid="error-summary"' in html
    assert not Parcel.objects.exists()
    assert not ParcelEvent.objects.exists()


def test_window_end_before_start_is_refused_with_every_error(alice_client):
    now = timezone.now()
    data = parcel_post_data(
        pickup_window_start=local_input(now + timedelta(hours=5)),
        pickup_window_end=local_input(now + timedelta(hours=3)),
        delivery_window_start=local_input(now + timedelta(hours=9)),
        delivery_window_end=local_input(now + timedelta(hours=8)),
        description="Keep me",
    )

    response = alice_client.post(reverse("web:parcel_create"), data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["pickup_window_end"] == ["The pickup window must end after it starts."]
    assert errors["delivery_window_end"] == ["The delivery window must end after it starts."]
    html = response.content.decode()
    assert 'data-testid="error-pickup_window_end"' in html
    assert 'data-testid="error-delivery_window_end"' in html
    # Nothing typed is lost, the map points included.
    assert 'value="Keep me"' in html
    assert f'value="{data["pickup_window_start"]}"' in html
    assert f'name="pickup_lat" value="{ALEXANDERPLATZ[1]}"' in html
    assert f'name="dropoff_lon" value="{CHARLOTTENBURG[0]}"' in html
    assert not Parcel.objects.exists()


def test_an_oversized_photo_is_refused_on_the_photo_field(alice_client, settings):
    settings.MAX_UPLOAD_BYTES = 4 * 1024
    photo = png_upload("huge.png", side=64, noise=True)
    assert photo.size > settings.MAX_UPLOAD_BYTES

    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data(photo=photo))

    assert response.status_code == 200
    [error] = response.context["form"].errors["photo"]
    assert "it may be at most" in error
    assert 'data-testid="error-photo"' in response.content.decode()
    assert not Parcel.objects.exists()


def test_a_file_that_is_not_an_image_is_refused(alice_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("notes.png", b"not an image at all", content_type="image/png")

    response = alice_client.post(reverse("web:parcel_create"), parcel_post_data(photo=fake))

    assert response.status_code == 200
    assert "photo" in response.context["form"].errors
    assert not Parcel.objects.exists()


def test_service_errors_on_unknown_fields_show_on_top_of_the_form():
    from marketplace.core.exceptions import ApplicationError
    from marketplace.web.forms import ParcelForm

    form = ParcelForm(data=parcel_post_data())
    assert form.is_valid(), form.errors

    form.add_service_errors(
        ApplicationError(
            "The parcel has invalid fields.",
            fields={"weight_grams": ["Too heavy."], "mystery": ["Odd."]},
        )
    )
    form.add_service_errors(ApplicationError("Only shippers can post parcels."))

    assert form.errors["weight_kg"] == ["Too heavy."]
    assert form.non_field_errors() == ["mystery: Odd.", "Only shippers can post parcels."]


def test_a_courier_cannot_post_a_parcel(client, carl):
    client.force_login(carl)

    response = client.post(reverse("web:parcel_create"), parcel_post_data())

    assert response.status_code == 403
    assert not Parcel.objects.exists()


# --- quote -----------------------------------------------------------------------------------


def test_quote_returns_the_price_before_posting(alice_client):
    data = parcel_post_data()

    response = alice_client.post(reverse("web:parcel_quote"), data)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    quote = body["quote"]
    assert quote["price_total"] == quote["platform_fee"] + quote["courier_share"]
    assert body["display"]["price_total"] == format_money(quote["price_total"], "EUR")
    assert not Parcel.objects.exists()


def test_quote_without_points_says_what_is_missing(alice_client):
    response = alice_client.post(
        reverse("web:parcel_quote"), parcel_post_data(pickup_lat="", pickup_lon="")
    )

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert "Place both points on the map" in body["message"]


def test_quote_is_post_only(alice_client):
    assert alice_client.get(reverse("web:parcel_quote")).status_code == 405


# --- detail ----------------------------------------------------------------------------------


def test_detail_shows_the_parcel_price_split_map_and_history(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    response = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert parcel.description in html
    assert parcel.pickup_address in html and parcel.dropoff_address in html
    assert parcel.pickup_contact_phone in html and parcel.dropoff_contact_name in html
    assert format_money(parcel.price_total, parcel.currency) in html
    assert (
        f'data-testid="platform-fee">{format_money(parcel.platform_fee, parcel.currency)}<' in html
    )
    assert (
        f'data-testid="courier-share">{format_money(parcel.courier_share, parcel.currency)}<'
        in html
    )
    assert "Open for couriers" in html
    assert html.count('data-testid="history-event"') == 2
    assert 'data-testid="cancel-form"' in html
    assert reverse("web:parcel_edit", args=[parcel.pk]) in html
    points = json.loads(re.search(r'id="parcel-points"[^>]*>(.*?)</script>', html).group(1))
    assert points["pickup"] == pytest.approx([ALEXANDERPLATZ[1], ALEXANDERPLATZ[0]])
    assert points["dropoff"] == pytest.approx([CHARLOTTENBURG[1], CHARLOTTENBURG[0]])


def test_detail_of_a_matched_parcel_has_neither_edit_nor_cancel_when_not_allowed(
    alice_client, alice
):
    parcel = make_parcel(shipper=alice)
    parcel_transition(parcel=parcel, to_status=ParcelStatus.MATCHED, actor=None)
    parcel_transition(parcel=parcel, to_status=ParcelStatus.PICKED_UP, actor=None)

    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()

    assert "Picked up" in html
    assert reverse("web:parcel_edit", args=[parcel.pk]) not in html
    assert 'data-testid="cancel-form"' not in html


def test_another_shipper_gets_404_for_every_parcel_page(bob_client, alice):
    parcel = make_parcel(shipper=alice)
    before = snapshot(parcel)

    assert bob_client.get(reverse("web:parcel_detail", args=[parcel.pk])).status_code == 404
    assert bob_client.get(reverse("web:parcel_edit", args=[parcel.pk])).status_code == 404
    edit = bob_client.post(
        reverse("web:parcel_edit", args=[parcel.pk]), parcel_post_data(description="Stolen")
    )
    cancel = bob_client.post(reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": "mine"})

    assert edit.status_code == 404
    assert cancel.status_code == 404
    assert snapshot(parcel) == before


def test_staff_can_see_edit_and_cancel_any_parcel(client, alice):
    parcel = make_parcel(shipper=alice)
    admin = User.objects.create_superuser(email="admin@example.com", password="x", full_name="Ad")
    client.force_login(admin)

    detail = client.get(reverse("web:parcel_detail", args=[parcel.pk]))
    assert detail.status_code == 200
    assert 'data-testid="cancel-form"' in detail.content.decode()
    assert reverse("web:parcel_edit", args=[parcel.pk]) in detail.content.decode()
    edit = client.post(
        reverse("web:parcel_edit", args=[parcel.pk]), parcel_post_data(description="Staff fix")
    )
    assert edit.status_code == 302
    parcel.refresh_from_db()
    assert parcel.description == "Staff fix"
    assert parcel.shipper == alice

    response = client.post(reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": "Fraud"})

    assert response.status_code == 302
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.CANCELLED
    assert parcel.events.last().note == "Cancelled by admin: Fraud"


def test_a_missing_parcel_is_404(alice_client):
    assert alice_client.get(reverse("web:parcel_detail", args=[999_999])).status_code == 404


# --- edit ------------------------------------------------------------------------------------


def test_edit_form_is_prefilled(alice_client, alice):
    parcel = make_parcel(shipper=alice, weight_grams=2_500, declared_value=4_000)

    response = alice_client.get(reverse("web:parcel_edit", args=[parcel.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Box of books"' in html
    assert 'name="weight_kg" value="2.5"' in html
    assert 'name="declared_value" value="40.00"' in html
    assert f'value="{local_input(parcel.pickup_window_start)}"' in html
    assert f'name="pickup_lat" value="{ALEXANDERPLATZ[1]}"' in html
    assert re.search(r'value="M"[^>]* checked', html)


def test_owner_edits_a_parcel_and_it_is_requoted(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    old_price = parcel.price_total
    data = parcel_post_data(
        description="Box of records",
        size_class="XL",
        weight_kg="12",
        dropoff_lat=str(KREUZBERG[1]),
        dropoff_lon=str(KREUZBERG[0]),
    )

    response = alice_client.post(reverse("web:parcel_edit", args=[parcel.pk]), data)

    assert response.status_code == 302
    assert response.url == reverse("web:parcel_detail", args=[parcel.pk])
    parcel.refresh_from_db()
    assert parcel.description == "Box of records"
    assert parcel.size_class == "XL"
    assert parcel.weight_grams == 12_000
    assert parcel.dropoff_point.coords == pytest.approx(KREUZBERG)
    assert parcel.price_total != old_price
    assert parcel.price_total == parcel.platform_fee + parcel.courier_share
    assert parcel.status == ParcelStatus.OPEN


def test_edit_with_bad_input_keeps_the_parcel_as_it_was(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    before = snapshot(parcel)

    response = alice_client.post(
        reverse("web:parcel_edit", args=[parcel.pk]),
        parcel_post_data(description="Changed", weight_kg="-1"),
    )

    assert response.status_code == 200
    assert "weight_kg" in response.context["form"].errors
    assert snapshot(parcel) == before


def test_saving_the_edit_form_unchanged_changes_nothing(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    before = snapshot(parcel)
    form = alice_client.get(reverse("web:parcel_edit", args=[parcel.pk])).context["form"]
    data = {
        name: form[name].value() for name in form.fields if form[name].value() not in (None, "")
    }
    # The edit form shows the windows as naive local times.
    data = {
        k: (v.strftime("%Y-%m-%dT%H:%M") if hasattr(v, "tzinfo") else v)
        for k, v in data.items()
        if k != "photo"
    }

    response = alice_client.post(reverse("web:parcel_edit", args=[parcel.pk]), data)

    assert response.status_code == 302
    assert snapshot(parcel) == before


def test_edit_is_refused_once_the_parcel_is_not_editable(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    parcel_transition(parcel=parcel, to_status=ParcelStatus.MATCHED, actor=None)
    before = snapshot(parcel)

    page = alice_client.get(reverse("web:parcel_edit", args=[parcel.pk]), follow=True)
    response = alice_client.post(
        reverse("web:parcel_edit", args=[parcel.pk]), parcel_post_data(description="Too late")
    )

    assert page.redirect_chain == [(reverse("web:parcel_detail", args=[parcel.pk]), 302)]
    assert "can be edited only while it is a draft or open" in page.content.decode()
    assert response.status_code == 302
    assert snapshot(parcel) == before


# --- cancel ----------------------------------------------------------------------------------


def test_owner_cancels_a_parcel_with_a_reason(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    response = alice_client.post(
        reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": "Sent it by post"}, follow=True
    )

    assert response.status_code == 200
    assert "The parcel is cancelled." in response.content.decode()
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.CANCELLED
    event = parcel.events.last()
    assert (event.from_status, event.to_status) == ("open", "cancelled")
    assert event.actor == alice
    assert event.note == "Cancelled by shipper: Sent it by post"


def test_cancel_is_post_only(alice_client, alice):
    parcel = make_parcel(shipper=alice)

    response = alice_client.get(reverse("web:parcel_cancel", args=[parcel.pk]))

    assert response.status_code == 405
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN


def test_cancelling_a_cancelled_parcel_shows_an_error_and_changes_nothing(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    parcel_cancel(parcel=parcel, actor=alice, reason="first")
    before = snapshot(parcel)

    response = alice_client.post(
        reverse("web:parcel_cancel", args=[parcel.pk]), {"reason": "again"}, follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "can no longer be cancelled" in html
    assert 'class="message message-error"' in html
    assert snapshot(parcel) == before


def test_owner_replaces_and_then_removes_the_photo(alice_client, alice):
    parcel = make_parcel(shipper=alice)
    url = reverse("web:parcel_edit", args=[parcel.pk])

    response = alice_client.post(url, parcel_post_data(photo=png_upload("new.png")))
    assert response.status_code == 302
    parcel.refresh_from_db()
    assert parcel.photo.name.endswith(".png")
    html = alice_client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()
    assert f'src="{parcel.photo.url}"' in html

    response = alice_client.post(url, parcel_post_data(**{"photo-clear": "on"}))
    assert response.status_code == 302
    parcel.refresh_from_db()
    assert not parcel.photo
