"""The tracking rows in the admin: readable by staff, never edited there; no token on show."""

import pytest
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.tracking.models import LivePosition, LocationPing, TrackingLink
from marketplace.tracking.services import pings_record, tracking_link_get_or_create
from tests.tracking.helpers import new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


def test_the_tracking_pages_load_read_only_and_hide_the_token(client):
    # given
    delivery = start(pick_up(new_delivery()))
    pings_record(delivery=delivery, courier=delivery.courier, pings=[ping(3_000)])
    link = tracking_link_get_or_create(delivery=delivery)
    boss = User.objects.create_superuser(
        email="boss@example.com", password="pw-12345678", full_name="Boss"
    )
    client.force_login(boss)

    for model in (LocationPing, LivePosition, TrackingLink):
        name = f"admin:tracking_{model._meta.model_name}"
        obj = model.objects.get()
        # when
        listing = client.get(reverse(f"{name}_changelist"))
        page = client.get(reverse(f"{name}_change", args=[obj.pk]))

        # then
        assert listing.status_code == page.status_code == 200, name
        assert link.token not in listing.content.decode() + page.content.decode()
        assert client.get(reverse(f"{name}_add")).status_code == 403
