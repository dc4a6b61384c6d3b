"""Every admin page loads for staff, with map widgets served from local static files."""

import pytest
from django.contrib import admin
from django.urls import reverse

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from marketplace.parcels.models import ParcelEvent
from tests.factories.parcels import make_parcel
from tests.factories.trips import make_trip

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin_user = User.objects.create_superuser(
        email="boss@example.com", password="pw-12345678", full_name="Boss"
    )
    client.force_login(admin_user)
    return client


@pytest.fixture
def data():
    parcel = make_parcel()
    trip = make_trip()
    return parcel, trip


def test_every_changelist_and_change_page_loads(staff_client, data):
    for model in admin.site._registry:
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = staff_client.get(changelist)
        assert response.status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert staff_client.get(change).status_code == 200, change
        search = staff_client.get(changelist, {"q": "x"})
        assert search.status_code == 200, f"search on {changelist}"


def test_parcel_page_has_an_offline_map_and_read_only_history(staff_client, data):
    parcel, _ = data
    html = staff_client.get(
        reverse("admin:parcels_parcel_change", args=[parcel.pk])
    ).content.decode()
    assert "/static/leaflet/leaflet.js" in html
    assert "unpkg.com" not in html and "cdn" not in html.lower()
    assert "draft" in html and "open" in html  # the events inline
    event = ParcelEvent.objects.filter(parcel=parcel).first()
    url = reverse("admin:parcels_parcelevent_change", args=[event.pk])
    response = staff_client.post(url, {"note": "tampered"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.note == "Created"


def test_admin_verifies_couriers_with_an_action(staff_client, data):
    _, trip = data
    profile = CourierProfile.objects.get(user=trip.courier)
    CourierProfile.objects.filter(pk=profile.pk).update(
        verification_status=VerificationStatus.PENDING
    )
    response = staff_client.post(
        reverse("admin:accounts_courierprofile_changelist"),
        {"action": "verify", "_selected_action": [profile.pk]},
        follow=True,
    )
    assert response.status_code == 200
    profile.refresh_from_db()
    assert profile.verification_status == VerificationStatus.VERIFIED
    assert profile.verified_by.email == "boss@example.com"


def test_admin_cancels_parcels_through_the_transition(staff_client, data):
    parcel, _ = data
    staff_client.post(
        reverse("admin:parcels_parcel_changelist"),
        {"action": "cancel_parcels", "_selected_action": [parcel.pk]},
        follow=True,
    )
    parcel.refresh_from_db()
    assert parcel.status == "cancelled"
    assert parcel.events.last().note == "Cancelled by admin: by admin"


def test_non_staff_cannot_open_admin(client, data):
    parcel, _ = data
    client.force_login(parcel.shipper)
    response = client.get(reverse("admin:parcels_parcel_changelist"))
    assert response.status_code == 302
