"""Recurring commutes in the admin: read with their occurrences; stopped and made by actions."""

from datetime import time

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.lifecycle.commuting import trip_series_post
from marketplace.trips.models import Trip, TripSeries, TripStatus
from tests.factories.accounts import CourierFactory
from tests.factories.geo import commute_route

pytestmark = pytest.mark.django_db


def post_daily() -> TripSeries:
    return trip_series_post(
        courier=CourierFactory(),
        rrule="FREQ=DAILY",
        time_zone="Australia/Sydney",
        starts_on=timezone.now().date(),
        departure_time=time(23, 30),
        route=commute_route(),
        route_source="geojson",
    )


def test_series_pages_load_and_the_actions_work(client):
    series = post_daily()
    boss = User.objects.create_superuser(
        email="boss@example.com", password="pw-12345678", full_name="Boss"
    )
    client.force_login(boss)
    listing = client.get(reverse("admin:trips_tripseries_changelist"))
    page = client.get(reverse("admin:trips_tripseries_change", args=[series.pk]))
    assert listing.status_code == page.status_code == 200
    assert "FREQ=DAILY" in listing.content.decode()
    occurrence = series.occurrences.order_by("occurrence_date").last()
    assert str(occurrence.occurrence_date.year) in page.content.decode()
    trip_page = client.get(reverse("admin:trips_trip_change", args=[occurrence.pk]))
    assert trip_page.status_code == 200

    Trip.objects.filter(pk=occurrence.pk).delete()
    response = client.post(
        reverse("admin:trips_tripseries_changelist"),
        {"action": "materialize_series", "_selected_action": [series.pk]},
        follow=True,
    )
    assert "Made 1 occurrences." in response.content.decode()
    response = client.post(
        reverse("admin:trips_tripseries_changelist"),
        {"action": "stop_series", "_selected_action": [series.pk]},
        follow=True,
    )
    assert response.status_code == 200
    series.refresh_from_db()
    assert not series.is_active
    assert set(series.occurrences.values_list("status", flat=True)) == {TripStatus.CANCELLED}
