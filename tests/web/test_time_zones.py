"""Local time (issue 14, item 1): the operator's zone by default, each person's own zone on every
page, form and notification, named; the API in ISO 8601 with offsets, any offset accepted; a
window across a daylight-saving change shown and read right."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.core.timezones import local_clock, zone_of, zone_problem
from marketplace.notifications.models import Notification
from marketplace.parcels.models import Parcel
from tests.factories.accounts import CourierFactory
from tests.factories.matching import assigned, line_trip, parcel_near
from tests.factories.parcels import make_parcel
from tests.web.conftest import parcel_post_data, register

pytestmark = pytest.mark.django_db
BERLIN, SYDNEY = ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Sydney")
# 2030-03-31 is the last Sunday of March: Berlin's clocks go from 02:00 CET to 03:00 CEST.
BEFORE_DST = datetime(2030, 3, 31, 0, 30, tzinfo=UTC)  # 01:30 CET
AFTER_DST = datetime(2030, 3, 31, 1, 30, tzinfo=UTC)  # 03:30 CEST


def login(client, user):
    client.force_login(user)
    return client


def test_zone_names_are_checked_and_a_person_without_one_gets_the_operators(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    assert zone_problem("Europe/Berlin") is None
    assert "not a time zone" in (zone_problem("Mars/Olympus_Mons") or "")
    assert zone_of(User(time_zone="")).key == "America/Sao_Paulo"
    assert zone_of(User(time_zone="Asia/Kolkata")).key == "Asia/Kolkata"
    assert zone_of(None).key == "America/Sao_Paulo"


def test_berlin_and_sydney_shippers_each_see_their_own_local_times(client, settings):
    settings.TIME_ZONE = "UTC"
    berlin = register("berta@example.com")
    sydney = register("sid@example.com")
    User.objects.filter(pk=berlin.pk).update(time_zone="Europe/Berlin")
    User.objects.filter(pk=sydney.pk).update(time_zone="Australia/Sydney")
    pages, starts = {}, {}
    for user in (berlin, sydney):
        parcel = make_parcel(shipper=User.objects.get(pk=user.pk), publish=False)
        starts[user.email] = parcel.pickup_window_start
        login(client, user)
        pages[user.email] = client.get(reverse("web:parcel_detail", args=[parcel.pk])).content
    for email, zone in (("berta@example.com", BERLIN), ("sid@example.com", SYDNEY)):
        local = starts[email].astimezone(zone)
        assert f"{local:%a} {local.day} {local:%b %Y, %H:%M}".encode() in pages[email]
        assert f"Times in {zone.key}".encode() in pages[email]
    client.logout()
    assert b"Times in UTC" in client.get("/").content  # anonymous: the operator's zone


@time_machine.travel(datetime(2030, 3, 25, 12, 0, tzinfo=UTC))
def test_the_parcel_form_reads_times_in_the_shippers_zone_across_a_dst_change(client, settings):
    settings.TIME_ZONE = "UTC"
    shipper = register("berta@example.com")
    User.objects.filter(pk=shipper.pk).update(time_zone="Europe/Berlin")
    login(client, shipper)
    data = parcel_post_data(
        pickup_window_start="2030-03-31T01:30",
        pickup_window_end="2030-03-31T03:30",  # two clock hours, one real hour
        delivery_window_start="2030-03-31T01:30",
        delivery_window_end="2030-03-31T09:00",
    )
    response = client.post(reverse("web:parcel_create"), data)
    assert response.status_code == 302, response.content
    parcel = Parcel.objects.get()
    assert (parcel.pickup_window_start, parcel.pickup_window_end) == (BEFORE_DST, AFTER_DST)
    page = client.get(reverse("web:parcel_detail", args=[parcel.pk])).content
    assert b"Sun 31 Mar 2030, 01:30 \xe2\x80\x93 Sun 31 Mar 2030, 03:30" in page

    # 02:30 does not exist in Berlin that night: a form error that names the zone, nothing saved
    bad = client.post(
        reverse("web:parcel_create"), {**data, "pickup_window_start": "2030-03-31T02:30"}
    )
    assert bad.status_code == 200
    assert "Europe/Berlin" in bad.context["form"].errors["pickup_window_start"][0]
    assert Parcel.objects.count() == 1


def test_signup_keeps_the_browsers_zone_and_drops_a_guess_it_does_not_know(client):
    form = {
        "email": "new@example.com",
        "full_name": "New Person",
        "password1": "a-long-pass-phrase",
        "password2": "a-long-pass-phrase",
        "is_shipper": "on",
        "time_zone": "Australia/Sydney",
    }
    page = client.get(reverse("web:signup")).content.decode()
    assert "data-time-zone-guess" in page and "js/time-zone-guess.js" in page
    assert client.post(reverse("web:signup"), form).status_code == 302
    assert User.objects.get(email="new@example.com").time_zone == "Australia/Sydney"
    client.logout()
    form |= {"email": "other@example.com", "time_zone": "Not/AZone"}
    assert client.post(reverse("web:signup"), form).status_code == 302
    assert User.objects.get(email="other@example.com").time_zone == ""


def test_the_profile_page_changes_the_zone_and_refuses_an_unknown_one(client):
    user = register("berta@example.com")
    login(client, user)
    fields = {"full_name": "Berta B", "phone": "", "time_zone": "Europe/Berlin"}
    assert client.post(reverse("web:profile"), fields).status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"
    bad = client.post(reverse("web:profile"), {**fields, "time_zone": "Europe/Atlantis"})
    assert bad.status_code == 200 and "time_zone" in bad.context["form"].errors
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"


def test_the_api_reports_and_changes_the_zone_and_refuses_an_unknown_one(api_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    created = api_client.post(
        "/api/v1/auth/register/",
        {"email": "a@example.com", "password": "a-long-pass-phrase", "full_name": "A"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["user"]["time_zone"] == "Europe/Paris"
    refused = api_client.post(
        "/api/v1/auth/register/",
        {
            "email": "b@example.com",
            "password": "a-long-pass-phrase",
            "full_name": "B",
            "time_zone": "Mars/Olympus_Mons",
        },
        format="json",
    )
    assert refused.status_code == 400 and "time_zone" in str(refused.json())
    assert not User.objects.filter(email="b@example.com").exists()

    user = User.objects.get(email="a@example.com")
    api_client.force_authenticate(user)
    changed = api_client.patch("/api/v1/me/", {"time_zone": "Asia/Tokyo"}, format="json")
    assert changed.status_code == 200 and changed.json()["time_zone"] == "Asia/Tokyo"
    bad = api_client.patch("/api/v1/me/", {"time_zone": "Asia/Atlantis"}, format="json")
    assert bad.status_code == 400
    user.refresh_from_db()
    assert user.time_zone == "Asia/Tokyo"


@time_machine.travel(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
def test_the_api_accepts_any_offset_and_answers_with_one(api_client):
    shipper = register("berta@example.com")
    api_client.force_authenticate(shipper)
    parcel = make_parcel(shipper=shipper, publish=False)
    start = "2030-06-04T18:00:00+10:00"  # Sydney's winter offset: 08:00 UTC
    response = api_client.patch(
        f"/api/v1/parcels/{parcel.pk}/",
        {
            "pickup_window_start": start,
            "pickup_window_end": "2030-06-04T12:00:00+02:00",
            "delivery_window_start": "2030-06-04T08:00:00Z",
            "delivery_window_end": "2030-06-04T16:00:00-04:00",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    parcel.refresh_from_db()
    assert parcel.pickup_window_start == datetime(2030, 6, 4, 8, 0, tzinfo=UTC)
    assert parcel.pickup_window_end == datetime(2030, 6, 4, 10, 0, tzinfo=UTC)
    body = response.json()["pickup_window_start"]
    answered = datetime.fromisoformat(body)
    assert answered == parcel.pickup_window_start and answered.utcoffset() is not None


@pytest.mark.django_db(transaction=True)
def test_a_notification_gives_the_time_in_its_recipients_zone_and_names_it(settings):
    settings.TIME_ZONE = "UTC"
    shipper = register("sid@example.com")
    User.objects.filter(pk=shipper.pk).update(time_zone="Australia/Sydney")
    shipper.refresh_from_db()
    courier = CourierFactory()
    line_trip(courier=courier)
    delivery = assigned(parcel_near(shipper=shipper), courier)
    note = Notification.objects.filter(user=shipper, kind="parcel_assigned").get()
    expected = local_clock(delivery.predicted_pickup_at, shipper)
    assert expected in note.body
    local = delivery.predicted_pickup_at.astimezone(SYDNEY)
    assert expected == f"{local:%H:%M} {local.tzname()}" and local.tzname() in ("AEST", "AEDT")
