"""Two workers doing the same thing at once, with real threads against the real database: the
same ledger source, the same transfer, the same refund, the same webhook event. Each ends with
one movement of money."""

import threading

import pytest
from django.db import IntegrityError, connection
from django.test import Client

from marketplace.lifecycle.paying import payment_start
from marketplace.payments import gateway, ledger
from marketplace.payments.models import (
    LedgerAccount,
    LedgerTransaction,
    PaymentStatus,
    Refund,
    Transfer,
    TransferStatus,
    WebhookEvent,
)
from marketplace.payments.refunds import escrow_refund
from marketplace.payments.transfers import transfer_send
from tests.factories.matching import parcel_near
from tests.payments.helpers import (
    browser_confirms,
    charge_refunded,
    delivered_payment,
    onboard,
    paid_parcel,
    refunds_at_stripe,
)
from tests.payments.stripe_fakes import event, signed

pytestmark = pytest.mark.django_db(transaction=True)


def _at_once(func, n=2):
    """Run `func()` in `n` threads released together; returns [(result, exception)]."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = (func(), None)
        except Exception as exc:
            results[i] = (None, exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_the_same_source_posted_at_once_is_posted_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    entries = [(LedgerAccount.ESCROW, 50, None), (LedgerAccount.PLATFORM_REVENUE, -50, None)]

    results = _at_once(
        lambda: ledger.post(kind="race", source="race:1", payment=payment, entries=entries), n=4
    )

    assert [exc for _r, exc in results] == [None] * 4
    assert sum(result is not None for result, _e in results) == 1
    assert LedgerTransaction.objects.filter(source="race:1").count() == 1
    assert ledger.total() == 0


def test_the_same_transfer_sent_at_once_goes_out_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(
        django_capture_on_commit_callbacks, stripe_connect, trip.courier, payouts=False
    )
    stripe_connect.enable_payouts(account.stripe_account_id)
    type(account).objects.filter(pk=account.pk).update(payouts_enabled=True)
    transfer = Transfer.objects.get(payment=payment)

    results = _at_once(lambda: transfer_send(transfer_id=transfer.pk), n=3)

    assert [exc for _r, exc in results] == [None] * 3
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["id"] == transfer.stripe_transfer_id
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1


def test_the_same_refund_asked_at_once_is_made_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    results = _at_once(
        lambda: escrow_refund(payment_id=payment.pk, amount=300, reason="race", key="race-refund")
    )

    # One made it; the other hit the unique key and gave up (its task would be retried)
    errors = [exc for _r, exc in results if exc is not None]
    assert all(isinstance(exc, IntegrityError) for exc in errors) and len(errors) <= 1
    assert charge_refunded(payment) == 300 and len(refunds_at_stripe(payment)) == 1
    assert Refund.objects.filter(payment=payment).count() == 1
    payment.refresh_from_db()
    assert payment.amount_refunded == 300


def test_the_same_event_delivered_at_once_is_stored_and_processed_once(
    payments_on, stripe_connect, settings
):
    parcel = parcel_near()
    payment = payment_start(parcel=parcel, shipper=parcel.shipper)
    browser_confirms(payment, "pm_card_visa")
    payload = event(
        "payment_intent.succeeded",
        gateway.payment_intent_retrieve(payment.stripe_payment_intent_id),
    )
    body, header = signed(payload, secret=settings.STRIPE_WEBHOOK_SECRET)

    def deliver():
        response = Client().post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
        return response.status_code, response.json()

    results = _at_once(deliver, n=3)

    assert [exc for _r, exc in results] == [None] * 3
    answers = sorted(result[1].get("duplicate", False) for result, _e in results)
    assert answers == [False, True, True]
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is not None and stored.attempts == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert LedgerTransaction.objects.filter(payment=payment, kind="payment").count() == 1
