"""Delivery options on the post-a-parcel page: chosen with the parcel, the prohibited items
listed and declared, shown on the parcel's page, and not editable afterwards."""

import pytest
from django.urls import reverse

from marketplace.parcels.models import Parcel
from tests.web.conftest import parcel_post_data, text_of

pytestmark = pytest.mark.django_db


def test_the_form_lists_the_prohibited_items_and_the_options(alice_client):
    # when
    response = alice_client.get(reverse("web:parcel_create"))

    # then
    html = response.content.decode()
    assert "weapons and ammunition" in text_of(html, "prohibited-items")
    for name in ("leave_at_door", "signature_required", "minimum_age", "fragile"):
        assert f'name="{name}"' in html
    assert response.context["form"]["pin_required"].value() is True


def test_a_parcel_posted_with_options_shows_them(alice_client):
    # when
    response = alice_client.post(
        reverse("web:parcel_create"),
        parcel_post_data(
            fragile="on", minimum_age="18", pin_required="on", recipient_email="ben@example.com"
        ),
    )

    # then
    parcel = Parcel.objects.get()
    assert response.status_code == 302, response.content
    assert (parcel.fragile, parcel.minimum_age, parcel.pin_required) == (True, 18, True)
    assert parcel.recipient_email == "ben@example.com"
    assert parcel.prohibited_items_declared is True
    page = alice_client.get(response.url).content.decode()
    assert text_of(page, "parcel-options") == "Recipient's code · ID check: 18+ · Fragile"


def test_without_the_declaration_the_form_comes_back_with_the_error(alice_client):
    # given
    data = parcel_post_data()
    del data["prohibited_items_declared"]

    # when
    response = alice_client.post(reverse("web:parcel_create"), data)

    # then
    assert response.status_code == 200
    assert "prohibited_items_declared" in response.context["form"].errors
    assert not Parcel.objects.exists()


def test_leave_at_door_with_a_signature_is_a_form_error(alice_client):
    # when
    response = alice_client.post(
        reverse("web:parcel_create"),
        parcel_post_data(leave_at_door="on", signature_required="on"),
    )

    # then
    assert response.status_code == 200
    assert "leave_at_door" in response.context["form"].errors
    assert not Parcel.objects.exists()


def test_the_edit_form_has_no_options(alice_client):
    # given
    alice_client.post(reverse("web:parcel_create"), parcel_post_data(fragile="on"))
    parcel = Parcel.objects.get()

    # when
    html = alice_client.get(reverse("web:parcel_edit", args=[parcel.pk])).content.decode()

    # then
    assert 'name="fragile"' not in html
    assert 'data-testid="delivery-options"' not in html
