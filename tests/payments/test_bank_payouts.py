"""Couriers' payouts from their Stripe accounts to their banks: `payout.*` Connect events, signed
as Stripe signs them, keep a BankPayout per payout that only moves forward; the courier is told
when the money is in the bank, or why it is not; the API, the payouts page and the admin show
them."""

import random
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.notifications.models import Notification
from marketplace.payments.models import BankPayout, BankPayoutStatus, WebhookEvent
from tests.factories.accounts import CourierFactory
from tests.payments.helpers import onboard
from tests.payments.stripe_fakes import event, post_event
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db
S = BankPayoutStatus


@pytest.fixture
def courier_account(stripe_connect, django_capture_on_commit_callbacks):
    courier = CourierFactory()
    return onboard(django_capture_on_commit_callbacks, stripe_connect, courier)


def _deliver_event(client, capture, connect, account, payout_id):
    """Stripe sends the payout's current state as a Connect event (a new event id each time)."""
    payload = event(
        f"payout.{connect.payout(payout_id)['status']}",
        connect.payout(payout_id),
        account=account.stripe_account_id,
    )
    with capture(execute=True):
        response = post_event(client, payload, connect=True)
    assert response.status_code == 200
    return payload


def test_a_payout_is_recorded_and_followed_to_the_bank(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    # Given Stripe starts a payout of 42.50 EUR to the courier's bank
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=4250)

    # When payout.created arrives
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    # Then it is recorded as Stripe has it, and nobody is told yet
    recorded = BankPayout.objects.get()
    assert (recorded.account, recorded.stripe_payout_id) == (account, payout["id"])
    assert (recorded.amount, recorded.currency, recorded.status) == (4250, "EUR", S.PENDING)
    assert recorded.arrival_date == datetime.fromtimestamp(payout["arrival_date"], tz=UTC)
    assert not Notification.objects.filter(kind__startswith="payout").exists()

    # When it reaches the bank
    stripe_connect.payout_moves(payout["id"], "in_transit")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])
    stripe_connect.payout_moves(payout["id"], "paid")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    # Then it is paid and the courier is told once
    recorded.refresh_from_db()
    assert recorded.status == S.PAID
    told = Notification.objects.get(user=account.courier, kind="payout_paid")
    assert told.title == "€42.50 paid into your bank account"
    assert BankPayout.objects.count() == 1


def test_a_failed_payout_tells_the_courier_why_by_notification_and_email(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=1999, status="in_transit")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])
    mail.outbox.clear()

    # When the bank sends it back
    stripe_connect.payout_moves(
        payout["id"],
        "failed",
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    )
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    # Then the payout says why, and the courier gets a notification and an email
    recorded = BankPayout.objects.get()
    assert recorded.status == S.FAILED
    assert recorded.failure_code == "account_closed"
    assert recorded.failure_message == "The bank account has been closed."
    told = Notification.objects.get(user=account.courier, kind="payout_failed")
    assert told.title == "Your payout of €19.99 failed"
    assert told.body.startswith("The bank account has been closed.")
    assert [m.to for m in mail.outbox] == [[account.courier.email]]
    assert "The bank account has been closed." in mail.outbox[0].body


def test_a_paid_payout_that_the_bank_returns_becomes_failed(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=500, status="paid")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    stripe_connect.payout_moves(payout["id"], "failed", failure_code="could_not_process")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    recorded = BankPayout.objects.get()
    assert (recorded.status, recorded.failure_code) == (S.FAILED, "could_not_process")
    kinds = list(
        Notification.objects.filter(user=account.courier, kind__startswith="payout")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["payout_paid", "payout_failed"]


def test_duplicated_and_reordered_payout_events_end_in_the_latest_state(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    # Given the events of a payout's life, each delivered twice, in random order, and processed
    # after Stripe's payout has reached its final state (processing re-reads it)
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=700)
    payloads = []
    for status in ("pending", "in_transit", "paid"):
        stripe_connect.payout_moves(payout["id"], status)
        payloads.append(
            event(
                f"payout.{status}",
                stripe_connect.payout(payout["id"]),
                account=account.stripe_account_id,
            )
        )
    deliveries = payloads * 2
    random.Random(7).shuffle(deliveries)

    # When they arrive
    for payload in deliveries:
        with capture(execute=True):
            assert post_event(client, payload, connect=True).status_code == 200

    # Then one payout, paid, one notification, three events stored once each
    recorded = BankPayout.objects.get()
    assert recorded.status == S.PAID
    assert Notification.objects.filter(kind="payout_paid").count() == 1
    assert WebhookEvent.objects.filter(type__startswith="payout.").count() == 3
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_stale_read_never_moves_a_payout_back(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=700, status="paid")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    # Stripe (in this test) answers with an older state: nothing changes, nobody is told again
    stripe_connect.payout_moves(payout["id"], "in_transit")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])

    assert BankPayout.objects.get().status == S.PAID
    assert Notification.objects.filter(kind="payout_paid").count() == 1


def test_payouts_of_unknown_accounts_and_of_the_platform_are_ignored(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=100, status="paid")

    # An account we do not know, and the platform's own payout (no account, platform endpoint)
    stranger = event("payout.paid", stripe_connect.payout(payout["id"]), account="acct_unknown1")
    own = event("payout.paid", {"id": "po_platform1", "object": "payout"})
    with capture(execute=True):
        assert post_event(client, stranger, connect=True).status_code == 200
        assert post_event(client, own).status_code == 200

    assert not BankPayout.objects.exists()
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 2
    # Nothing was asked of Stripe about a payout that is not ours to read
    assert not [url for _, url in stripe_connect.calls if "/v1/payouts/" in url]


def test_the_courier_sees_their_bank_payouts_in_the_api_and_on_the_page(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    paid = stripe_connect.pay_out(account.stripe_account_id, amount=1200, status="paid")
    failed = stripe_connect.pay_out(account.stripe_account_id, amount=300, status="failed")
    stripe_connect.payout_moves(failed["id"], "failed", failure_message="No such bank account.")
    for payout in (paid, failed):
        _deliver_event(client, capture, stripe_connect, account, payout["id"])

    # The API
    api = Client()
    api.force_login(account.courier)
    body = api.get("/api/v1/me/payouts/").json()
    rows = {p["stripe_payout_id"]: p for p in body["bank_payouts"]}
    assert rows[paid["id"]]["status"] == "paid" and rows[paid["id"]]["amount"] == 1200
    assert rows[failed["id"]]["failure_message"] == "No such bank account."

    # The page
    html = api.get(reverse("web:payouts")).content.decode()
    assert html.count('data-testid="bank-payout-row"') == 2
    assert text_of(html, "bank-payout-failure") == "(No such bank account.)"

    # Another courier sees none of them
    other = Client()
    other.force_login(CourierFactory())
    assert other.get("/api/v1/me/payouts/").json()["bank_payouts"] == []
    assert 'data-testid="no-bank-payouts"' in other.get(reverse("web:payouts")).content.decode()


def test_the_admin_lists_bank_payouts_read_only(
    stripe_connect, client, courier_account, django_capture_on_commit_callbacks
):
    account, capture = courier_account, django_capture_on_commit_callbacks
    admin_client = Client()
    admin_client.force_login(
        User.objects.create_superuser(email="admin@example.com", password="x", full_name="Ad")
    )
    payout = stripe_connect.pay_out(account.stripe_account_id, amount=900, status="failed")
    _deliver_event(client, capture, stripe_connect, account, payout["id"])
    recorded = BankPayout.objects.get()

    listing = admin_client.get("/admin/payments/bankpayout/?status__exact=failed")
    detail = admin_client.get(f"/admin/payments/bankpayout/{recorded.pk}/change/")
    account_page = admin_client.get(f"/admin/payments/connectedaccount/{account.pk}/change/")

    assert listing.status_code == 200 and payout["id"] in listing.content.decode()
    assert "€9.00" in listing.content.decode()
    assert detail.status_code == 200 and payout["id"] in account_page.content.decode()
    assert admin_client.get("/admin/payments/bankpayout/add/").status_code == 403
