"""The admin's returns queue: list with filters, approve, refuse with a reason, refund."""

import pytest
from django.test import Client
from django.urls import reverse

from marketplace.lifecycle import returning
from marketplace.parcels.models import ParcelStatus
from marketplace.returns.models import ParcelReturn, ReturnStatus
from tests.factories.accounts import UserFactory
from tests.returns.helpers import delivered_parcel

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:returns_parcelreturn_changelist")


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _asked_by_recipient() -> ParcelReturn:
    original, _ = delivered_parcel()
    return returning.return_request_by_recipient(
        parcel=original, reason_code="damaged", reason="Broken glass"
    )


def test_the_queue_lists_filters_and_shows_a_return(admin_client_):
    asked = _asked_by_recipient()
    listing = admin_client_.get(CHANGELIST, {"status__exact": "requested"})
    assert listing.status_code == 200 and "Broken glass" in listing.content.decode()
    assert (
        "Broken glass"
        not in admin_client_.get(CHANGELIST, {"status__exact": "completed"}).content.decode()
    )
    page = admin_client_.get(reverse("admin:returns_parcelreturn_change", args=[asked.pk]))
    assert page.status_code == 200
    assert admin_client_.get(reverse("admin:returns_parcelreturn_add")).status_code == 403


def test_approve_from_the_queue(admin_client_):
    asked = _asked_by_recipient()
    admin_client_.post(CHANGELIST, {"action": "approve", "_selected_action": [asked.pk]})
    asked.refresh_from_db()
    assert asked.status == ReturnStatus.APPROVED
    assert asked.original.status == ParcelStatus.RETURNING


def test_refuse_asks_for_a_reason_then_refuses(admin_client_):
    asked = _asked_by_recipient()
    form = admin_client_.post(CHANGELIST, {"action": "refuse", "_selected_action": [asked.pk]})
    assert form.status_code == 200 and b"refusal_reason" in form.content
    missing = admin_client_.post(
        CHANGELIST, {"action": "refuse", "_selected_action": [asked.pk], "apply": "Refuse"}
    )
    assert b"Say why" in missing.content
    asked.refresh_from_db()
    assert asked.status == ReturnStatus.REQUESTED

    admin_client_.post(
        CHANGELIST,
        {
            "action": "refuse",
            "_selected_action": [asked.pk],
            "apply": "Refuse",
            "refusal_reason": "Outside our policy",
        },
    )
    asked.refresh_from_db()
    assert asked.status == ReturnStatus.REFUSED
    assert asked.refusal_reason == "Outside our policy"
    assert asked.reverse.status == ParcelStatus.CANCELLED


def test_refund_on_a_refused_return_is_refused_with_a_message(admin_client_):
    asked = _asked_by_recipient()
    returning.return_refuse(parcel_return=asked, actor=UserFactory(is_staff=True), reason="No")
    response = admin_client_.post(
        CHANGELIST, {"action": "refund_original", "_selected_action": [asked.pk]}, follow=True
    )
    assert "nothing to refund" in response.content.decode()
