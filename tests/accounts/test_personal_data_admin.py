"""The User admin's personal-data tools: download a person's ZIP, erase an account after a
confirmation that shows what blocks it (the staff member recorded as actor), the erased filter,
and the retention purge run now."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle.erasure import account_erase
from marketplace.tracking.models import LocationPing
from marketplace.tracking.services import pings_record
from tests.factories.accounts import ShipperFactory
from tests.factories.matching import parcel_near
from tests.tracking.helpers import deliver, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    staff = User.objects.create_superuser("root@example.com", "pw-root-1234", full_name="Root")
    client.force_login(staff)
    client.staff = staff
    return client


def test_an_admin_downloads_a_persons_data(admin_client):
    person = ShipperFactory(full_name="Dora Data")
    url = reverse("admin:accounts_user_personal_data", args=[person.pk])

    answer = admin_client.get(url)
    by_action = admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "download_personal_data", ACTION_CHECKBOX_NAME: [person.pk]},
    )

    for response in (answer, by_action):
        assert response.status_code == 200 and response["Content-Type"] == "application/zip"
        data = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("data.json"))
        assert data["profile"]["full_name"] == "Dora Data"
    change = admin_client.get(reverse("admin:accounts_user_change", args=[person.pk]))
    assert url.encode() in change.content


def test_an_admin_sees_what_blocks_an_erasure_and_nothing_changes(admin_client):
    parcel = parcel_near()
    url = reverse("admin:accounts_user_erase", args=[parcel.shipper_id])

    page = admin_client.get(url)
    posted = admin_client.post(url)

    assert b'data-testid="admin-erase-blockers"' in page.content and b"open_parcels" in page.content
    assert b"admin-erase-submit" not in page.content
    assert posted.status_code == 200
    assert User.objects.get(pk=parcel.shipper_id).erased_at is None


def test_an_admin_erases_an_account_and_is_recorded_as_actor(admin_client):
    person = ShipperFactory(full_name="Gone Soon")
    url = reverse("admin:accounts_user_erase", args=[person.pk])
    via_action = admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "erase_account", ACTION_CHECKBOX_NAME: [person.pk]},
    )
    assert via_action.status_code == 302 and via_action["Location"] == url
    assert b'data-testid="admin-erase-submit"' in admin_client.get(url).content

    done = admin_client.post(url)

    assert done.status_code == 302
    person.refresh_from_db()
    assert person.erased_at is not None and person.full_name == ""
    entry = LogEntry.objects.filter(object_id=str(person.pk)).latest("action_time")
    assert entry.user == admin_client.staff and "erased" in entry.change_message
    listed = admin_client.get(reverse("admin:accounts_user_changelist"), {"erased": "yes"})
    assert person.email.encode() in listed.content
    others = admin_client.get(reverse("admin:accounts_user_changelist"), {"erased": "no"})
    assert person.email.encode() not in others.content


def test_an_erased_account_shows_as_erased_and_cannot_be_erased_again(admin_client):
    person = account_erase(user=ShipperFactory())
    url = reverse("admin:accounts_user_erase", args=[person.pk])

    page = admin_client.get(url)
    admin_client.post(url)

    assert b"was erased on" in page.content and b"admin-erase-submit" not in page.content
    assert User.objects.get(pk=person.pk).erased_at == person.erased_at


def test_an_admin_runs_the_retention_purge_after_seeing_its_counts(admin_client):
    delivery = start(pick_up(new_delivery()))
    pings_record(
        delivery=delivery,
        courier=delivery.courier,
        pings=[ping(2_500, at=minutes_ago(2)), ping(3_000, at=minutes_ago(1))],
    )
    delivery = deliver(delivery)
    Delivery.objects.filter(pk=delivery.pk).update(
        delivered_at=timezone.now() - timedelta(days=400)
    )
    url = reverse("admin:accounts_user_retention_purge")
    assert url.encode() in admin_client.get(reverse("admin:accounts_user_changelist")).content

    page = admin_client.get(url)
    assert b'data-testid="retention-positions">2<' in page.content
    assert LocationPing.objects.filter(delivery=delivery).count() == 2

    done = admin_client.post(url)

    assert done.status_code == 302
    assert not LocationPing.objects.filter(delivery=delivery).exists()


def test_people_without_staff_rights_cannot_use_them(client):
    person = ShipperFactory()
    client.force_login(ShipperFactory())
    for name in ("admin:accounts_user_personal_data", "admin:accounts_user_erase"):
        assert client.post(reverse(name, args=[person.pk])).status_code == 302  # admin login
    assert User.objects.get(pk=person.pk).erased_at is None
