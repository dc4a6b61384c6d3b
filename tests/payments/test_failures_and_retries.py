"""Stripe failing mid-flow (connection errors, 5xx, a response lost after Stripe acted), then a
retry: nothing is charged, transferred, reversed or refunded twice, and the ledger posts once."""

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.paying import payment_start
from marketplace.payments import gateway, tasks, transfers
from marketplace.payments.models import (
    LedgerTransaction,
    Payment,
    PaymentStatus,
    Refund,
    Transfer,
    TransferStatus,
)
from marketplace.payments.refunds import escrow_refund, escrow_refund_after_release
from marketplace.payments.transfers import transfer_send
from tests.factories.matching import parcel_near
from tests.payments.helpers import (
    balances,
    charge_refunded,
    delivered_payment,
    fail_times,
    no_retry_sleep,
    onboard,
    paid_parcel,
    refunds_at_stripe,
)
from tests.payments.stripe_fakes import event, post_event, requests

pytestmark = pytest.mark.django_db
P = PaymentStatus
DEAD_STRIPE = "http://127.0.0.1:9"  # nothing listens: connection refused


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    no_retry_sleep(monkeypatch)


def _postings(kind):
    return LedgerTransaction.objects.filter(kind=kind).count()


def _waiting_transfer(capture, connect):
    """A released payment whose courier just got payouts enabled (the account row says so, the
    transfer has not been sent yet)."""
    trip, _parcel, payment, _delivery = delivered_payment(capture)
    account = onboard(capture, connect, trip.courier, payouts=False)
    connect.enable_payouts(account.stripe_account_id)
    type(account).objects.filter(pk=account.pk).update(payouts_enabled=True)
    return payment, Transfer.objects.get(payment=payment), account


def _transfer_posts(connect):
    return [
        call.request
        for call in connect.mock.calls
        if call.request.method == "POST" and call.request.url.endswith("/v1/transfers")
    ]


# --- transfers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset"), requests.Timeout("read timeout"), 500, 503],
)
def test_a_transfer_that_fails_stays_waiting_and_a_retry_sends_it_once(
    failure, payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    payment, transfer, account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )

    # When Stripe cannot be reached (through stripe-python's own two retries)
    fail_times(stripe_connect, "/v1/transfers", failure)
    with pytest.raises(Retry):  # Celery's autoretry; eager here, so raised to the caller
        tasks.send_transfer.delay(transfer.pk)

    # Then the transfer still waits, nothing was sent nor posted
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.WAITING and transfer.stripe_transfer_id == ""
    assert not stripe_connect.transfers
    assert _postings("transfer") == 0

    # When the task is retried
    transfer_send(transfer_id=transfer.pk)

    # Then exactly one transfer went out, posted once
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["id"] == transfer.stripe_transfer_id and sent["amount"] == payment.courier_share
    assert _postings("transfer") == 1
    assert balances(payment) == {
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee,
    }


def test_stripe_pythons_own_retry_reuses_our_idempotency_key(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _payment, transfer, _account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )

    # One connection error: stripe-python retries by itself
    stripe_connect.fail_next("/v1/transfers", requests.ConnectionError("blip"))
    transfer_send(transfer_id=transfer.pk)

    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    assert len(stripe_connect.transfers) == 1
    keys = [request.headers["Idempotency-Key"] for request in _transfer_posts(stripe_connect)]
    assert keys == [transfer.idempotency_key] * 2


def test_a_transfer_made_at_stripe_whose_recording_failed_is_replayed_not_repeated(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, monkeypatch
):
    _payment, transfer, account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )

    # Given Stripe made the transfer but our database failed right after
    real = transfers._transfer_paid
    calls = []

    def fail_once(transfer_id, stripe_transfer_id):
        calls.append(stripe_transfer_id)
        if len(calls) == 1:
            raise OperationalError("the database went away")
        return real(transfer_id, stripe_transfer_id)

    monkeypatch.setattr(transfers, "_transfer_paid", fail_once)
    with pytest.raises(Retry):
        tasks.send_transfer.delay(transfer.pk)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.WAITING
    assert len(stripe_connect.transfers) == 1 and _postings("transfer") == 0

    # When the task runs again
    transfer_send(transfer_id=transfer.pk)

    # Then Stripe replays the first transfer (same key), and it is recorded and posted once
    transfer.refresh_from_db()
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert calls == [sent["id"], sent["id"]]
    assert transfer.status == TransferStatus.PAID and transfer.stripe_transfer_id == sent["id"]
    assert _postings("transfer") == 1
    posts = [
        call for call in stripe_connect.mock.calls if call.request.url.endswith("/v1/transfers")
    ]
    assert posts[-1].response.headers.get("Idempotent-Replayed") == "true"


def test_the_gateway_with_the_same_key_returns_the_same_transfer(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    payment, transfer, account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )
    params = dict(
        amount=transfer.amount,
        currency=transfer.currency,
        destination=account.stripe_account_id,
        source_transaction=payment.stripe_charge_id,
        transfer_group="g",
        metadata={},
        key=transfer.idempotency_key,
    )

    first = gateway.transfer_create(**params)
    second = gateway.transfer_create(**params)

    assert first["id"] == second["id"] and len(stripe_connect.transfers) == 1


def test_sending_twice_sends_once(payments_on, stripe_connect, django_capture_on_commit_callbacks):
    _payment, transfer, _account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )

    tasks.send_transfer.delay(transfer.pk)
    tasks.send_transfer.delay(transfer.pk)

    assert len(stripe_connect.transfers) == 1 and len(_transfer_posts(stripe_connect)) == 1
    assert _postings("transfer") == 1


def test_the_periodic_sweep_survives_a_failure_and_sends_next_time(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _payment, transfer, _account = _waiting_transfer(
        django_capture_on_commit_callbacks, stripe_connect
    )

    fail_times(stripe_connect, "/v1/transfers", 500)
    assert tasks.send_due_transfers() == 0
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.WAITING

    assert tasks.send_due_transfers() == 1
    assert tasks.send_due_transfers() == 0
    assert len(stripe_connect.transfers) == 1


def test_a_transfer_waits_for_the_hold_period(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings
):
    settings.PAYOUT_HOLD_DAYS = 2
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    assert Transfer.objects.get(payment=payment).status == TransferStatus.WAITING
    assert tasks.send_due_transfers() == 0 and not stripe_connect.transfers


# --- refunds (localstripe ignores Idempotency-Key: our side must not ask twice) ------------
def test_a_refund_retried_after_it_was_recorded_is_not_made_again(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    escrow_refund(payment_id=payment.pk, amount=400, reason="damaged", key="support-1")
    escrow_refund(payment_id=payment.pk, amount=400, reason="damaged", key="support-1")

    payment.refresh_from_db()
    assert charge_refunded(payment) == 400 == payment.amount_refunded
    assert len(refunds_at_stripe(payment)) == 1
    assert Refund.objects.filter(payment=payment).count() == 1 and _postings("refund") == 1


def test_a_refund_that_never_reached_stripe_is_made_once_on_retry(
    payments_on, django_capture_on_commit_callbacks, settings
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    real_base = settings.STRIPE_API_BASE

    # When Stripe is unreachable
    settings.STRIPE_API_BASE = DEAD_STRIPE
    with pytest.raises(gateway.StripeError):
        escrow_refund(payment_id=payment.pk, amount=payment.amount, reason="x", key="r-1")

    # Then the refund is noted as ours to make, nothing else moved
    settings.STRIPE_API_BASE = real_base
    refund = Refund.objects.get(payment=payment)
    assert refund.stripe_refund_id == ""
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and payment.amount_refunded == 0
    assert charge_refunded(payment) == 0 and _postings("refund") == 0

    # When retried
    payment = escrow_refund(payment_id=payment.pk, amount=payment.amount, reason="x", key="r-1")

    assert payment.status == P.REFUNDED
    assert charge_refunded(payment) == payment.amount and len(refunds_at_stripe(payment)) == 1
    assert _postings("refund") == 1


def test_a_refund_made_at_stripe_whose_answer_was_lost_is_not_made_again(
    payments_on, django_capture_on_commit_callbacks, monkeypatch
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    real = gateway.refund_create
    calls = []

    def answer_lost(**kwargs):
        calls.append(kwargs)
        result = real(**kwargs)
        if len(calls) == 1:
            raise gateway.StripeError("Network error: read timed out")
        return result

    monkeypatch.setattr(gateway, "refund_create", answer_lost)

    # When the refund is made at Stripe but the answer never arrives
    with pytest.raises(gateway.StripeError):
        escrow_refund(payment_id=payment.pk, amount=500, reason="x", key="r-lost")
    assert charge_refunded(payment) == 500 and _postings("refund") == 0

    # Then the retry finds it (localstripe would make a second one with the same key)
    payment = escrow_refund(payment_id=payment.pk, amount=500, reason="x", key="r-lost")

    assert charge_refunded(payment) == 500 == payment.amount_refunded
    (at_stripe,) = refunds_at_stripe(payment)
    assert Refund.objects.get(payment=payment).stripe_refund_id == at_stripe["id"]
    assert _postings("refund") == 1


def test_the_webhook_for_a_refund_whose_answer_was_lost_records_it_as_ours(
    payments_on, client, django_capture_on_commit_callbacks, monkeypatch
):
    # Given the shipper cancelled, and Stripe refunded but its answer was lost
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    real = gateway.refund_create

    def answer_lost(**kwargs):
        real(**kwargs)
        raise gateway.StripeError("Network error: read timed out")

    monkeypatch.setattr(gateway, "refund_create", answer_lost)
    with pytest.raises(Retry), django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)
    monkeypatch.undo()
    no_retry_sleep(monkeypatch)

    # When charge.refunded arrives before the task's retry
    charge = gateway.charge_retrieve(payment.stripe_charge_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event("charge.refunded", charge)).status_code == 200

    # Then it is recorded on our refund, not as a second one made "at Stripe"
    (refund,) = Refund.objects.filter(payment=payment)
    assert refund.idempotency_key == f"parcel-{parcel.pk}-refund-cancelled"
    assert refund.stripe_refund_id == refunds_at_stripe(payment)[0]["id"]
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED and payment.amount_refunded == payment.amount

    # And the retried task finds it all done
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refund_cancelled_parcel.delay(parcel.pk)
    assert len(refunds_at_stripe(payment)) == 1 and _postings("refund") == 1
    assert balances(payment) == {}


def test_a_refund_retried_with_the_same_key_uses_the_first_amount(
    payments_on, django_capture_on_commit_callbacks, settings
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    real_base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = DEAD_STRIPE
    with pytest.raises(gateway.StripeError):
        escrow_refund(payment_id=payment.pk, amount=300, reason="x", key="r-same")
    settings.STRIPE_API_BASE = real_base

    payment = escrow_refund(payment_id=payment.pk, amount=999, reason="x", key="r-same")

    assert charge_refunded(payment) == 300 == payment.amount_refunded


def test_a_reversal_that_fails_refunds_nothing_and_the_retry_finishes_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a released payment whose share went out
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    # When the reversal fails
    fail_times(stripe_connect, "/reversals", 500)
    with pytest.raises(gateway.StripeError):
        escrow_refund_after_release(payment_id=payment.pk, reason="lost")

    # Then nothing was given back yet
    payment.refresh_from_db()
    assert payment.status == P.RELEASED and charge_refunded(payment) == 0
    assert Transfer.objects.get(payment=payment).status == TransferStatus.PAID

    # When retried: reversed once, refunded once
    payment = escrow_refund_after_release(payment_id=payment.pk, reason="lost")
    assert payment.status == P.REVERSED
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["amount_reversed"] == payment.courier_share and len(sent["reversals"]["data"]) == 1
    assert charge_refunded(payment) == payment.amount and len(refunds_at_stripe(payment)) == 1
    assert balances(payment) == {}


def test_a_reversal_done_then_a_refund_failing_is_finished_by_the_retry(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings, monkeypatch
):
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    # When the reversal goes through but the refund fails
    def refund_down(**kwargs):
        raise gateway.StripeError("Stripe is down")

    monkeypatch.setattr(gateway, "refund_create", refund_down)
    with pytest.raises(gateway.StripeError):
        escrow_refund_after_release(payment_id=payment.pk, reason="lost")
    monkeypatch.undo()
    no_retry_sleep(monkeypatch)
    assert Transfer.objects.get(payment=payment).status == TransferStatus.REVERSED
    assert Payment.objects.get(pk=payment.pk).status == P.RELEASED

    # Then the retry refunds, without reversing again
    payment = escrow_refund_after_release(payment_id=payment.pk, reason="lost")

    assert payment.status == P.REVERSED
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert len(sent["reversals"]["data"]) == 1
    assert charge_refunded(payment) == payment.amount
    assert _postings("reversal") == 1 and _postings("unearned") == 1 and _postings("refund") == 1
    assert balances(payment) == {}


# --- paying -------------------------------------------------------------------------------------
def test_paying_while_stripe_is_unreachable_answers_502_and_stores_nothing(
    payments_on, localstripe_server, settings, api_client
):
    parcel = parcel_near()
    api_client.force_authenticate(parcel.shipper)
    settings.STRIPE_API_BASE = DEAD_STRIPE

    response = api_client.post(
        f"/api/v1/parcels/{parcel.pk}/payment/", {"payment_method": "pm_card_visa"}, format="json"
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert not Payment.objects.exists()
    parcel.refresh_from_db()
    assert parcel.status == "draft"


def test_a_confirmation_whose_answer_was_lost_is_still_recorded(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, monkeypatch
):
    real = gateway.payment_intent_confirm

    def answer_lost(pi_id, *, key):
        real(pi_id, key=key)
        raise gateway.StripeError("Network error: read timed out")

    monkeypatch.setattr(gateway, "payment_intent_confirm", answer_lost)

    # The sync right after the confirmation reads the truth from Stripe
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    assert payment.status == P.SUCCEEDED and parcel.status == "open"


def test_a_confirmation_that_never_reached_stripe_can_be_tried_again(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, monkeypatch
):
    def down(pi_id, *, key):
        raise gateway.StripeError("Network error: connection refused")

    monkeypatch.setattr(gateway, "payment_intent_confirm", down)
    parcel, first = paid_parcel(django_capture_on_commit_callbacks)
    assert first.status == P.REQUIRES_PAYMENT and parcel.status == "draft"
    monkeypatch.undo()

    with django_capture_on_commit_callbacks(execute=True):
        second = payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")

    first.refresh_from_db()
    assert first.status == P.CANCELED and second.status == P.SUCCEEDED
    assert _postings("payment") == 1
