"""Every move of the escrow table, through the flows that make it (localstripe + FakeConnect),
and every move outside the table refused with nothing changed. Disputes' moves are in
test_disputes.py."""

from datetime import timedelta

import pytest

from marketplace.core.exceptions import ConflictError, NotAllowedError
from marketplace.core.state_machine import TransitionNotAllowed
from marketplace.deliveries.models import DeliveryStatus
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.lifecycle.matching import parcels_expire
from marketplace.lifecycle.paying import payment_start, payment_sync
from marketplace.parcels.models import ParcelStatus
from marketplace.payments import escrow, refunds
from marketplace.payments.models import (
    PAYMENT_TRANSITIONS,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Refund,
    Transfer,
    TransferKind,
    TransferStatus,
)
from marketplace.payments.refunds import escrow_refund_after_release
from tests.factories.accounts import ShipperFactory
from tests.factories.matching import parcel_near
from tests.factories.parcels import make_parcel
from tests.payments.helpers import (
    DECLINED_CARD,
    assign,
    balances,
    browser_attaches,
    browser_confirms,
    browser_fails_3d_secure,
    charge_refunded,
    deliver,
    delivered_payment,
    events_of,
    intent_status,
    onboard,
    paid_parcel,
    trip_and_parcel,
)
from tests.payments.stripe_fakes import stripe_id

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _unpaid(capture):
    """A draft parcel whose intent waits for the browser to confirm it."""
    parcel = parcel_near()
    with capture(execute=True):
        payment = payment_start(parcel=parcel, shipper=parcel.shipper)
    return parcel, payment


# --- paying -------------------------------------------------------------------------------------
def test_requires_payment_to_succeeded_with_a_good_card(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # When the shipper pays a draft with Stripe's test card
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    # Then the money is held and the parcel offered to couriers
    assert payment.status == P.SUCCEEDED
    assert events_of(payment) == [("", P.REQUIRES_PAYMENT), (P.REQUIRES_PAYMENT, P.SUCCEEDED)]
    assert parcel.status == ParcelStatus.OPEN
    assert intent_status(payment) == "succeeded"
    assert balances(payment) == {"stripe_balance": payment.amount, "escrow": -payment.amount}


def test_requires_payment_to_failed_on_a_declined_card_then_a_new_attempt_pays(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # When the shipper's card is declined
    parcel, failed = paid_parcel(django_capture_on_commit_callbacks, card=DECLINED_CARD)

    # Then the payment failed, says why, and nothing is held; the parcel stays a draft
    assert failed.status == P.FAILED
    assert "declined" in failed.failure_message
    assert events_of(failed) == [("", P.REQUIRES_PAYMENT), (P.REQUIRES_PAYMENT, P.FAILED)]
    assert parcel.status == ParcelStatus.DRAFT
    assert balances(failed) == {}

    # When they try again with a good card
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(
            parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa"
        )

    # Then a new attempt pays; the failed one is cancelled, at Stripe too
    parcel.refresh_from_db()
    failed.refresh_from_db()
    assert payment.pk != failed.pk and payment.status == P.SUCCEEDED
    assert failed.status == P.CANCELED and intent_status(failed) == "canceled"
    assert parcel.status == ParcelStatus.OPEN
    assert balances(payment) == {"stripe_balance": payment.amount, "escrow": -payment.amount}


def test_failed_to_succeeded_when_the_browser_retries_the_same_intent(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given an intent whose 3-D Secure challenge failed in the browser
    parcel, payment = _unpaid(django_capture_on_commit_callbacks)
    browser_fails_3d_secure(payment)
    payment = payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    assert payment.status == P.FAILED
    assert "authentication" in payment.failure_message

    # When the shipper confirms the same intent with another card
    browser_confirms(payment, "pm_card_visa")
    with django_capture_on_commit_callbacks(execute=True):
        payment_sync(payment_intent_id=payment.stripe_payment_intent_id)

    # Then it moves failed -> succeeded and the parcel opens
    payment.refresh_from_db()
    parcel.refresh_from_db()
    assert events_of(payment)[-2:] == [(P.REQUIRES_PAYMENT, P.FAILED), (P.FAILED, P.SUCCEEDED)]
    assert parcel.status == ParcelStatus.OPEN
    assert Payment.objects.filter(parcel=parcel).count() == 1


def test_failed_to_requires_payment_when_a_new_card_awaits_confirmation(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a failed intent
    _parcel, payment = _unpaid(django_capture_on_commit_callbacks)
    browser_fails_3d_secure(payment)
    payment_sync(payment_intent_id=payment.stripe_payment_intent_id)

    # When the browser sets another card but has not confirmed yet
    browser_attaches(payment, "pm_card_visa")
    payment = payment_sync(payment_intent_id=payment.stripe_payment_intent_id)

    # Then the payment waits for the card again; a second sync changes nothing
    assert payment.status == P.REQUIRES_PAYMENT
    payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    assert events_of(payment)[-1] == (P.FAILED, P.REQUIRES_PAYMENT)
    assert payment.events.count() == 3


def test_a_second_decline_of_a_failed_payment_writes_no_event(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks, card=DECLINED_CARD)

    payment_sync(payment_intent_id=payment.stripe_payment_intent_id)

    payment.refresh_from_db()
    assert payment.status == P.FAILED and payment.events.count() == 2


def test_requires_payment_to_canceled_when_the_shipper_cancels_the_draft(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel, payment = _unpaid(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    payment.refresh_from_db()
    assert payment.status == P.CANCELED
    assert events_of(payment)[-1] == (P.REQUIRES_PAYMENT, P.CANCELED)
    assert intent_status(payment) == "canceled"
    assert balances(payment) == {}


def test_failed_to_canceled_when_the_shipper_gives_up(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks, card=DECLINED_CARD)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    payment.refresh_from_db()
    assert events_of(payment)[-1] == (P.FAILED, P.CANCELED)
    assert intent_status(payment) == "canceled"


def test_a_draft_paid_in_the_browser_as_it_is_cancelled_is_refunded_not_lost(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given the browser confirmed the intent at Stripe; Waypost has not heard yet
    parcel, payment = _unpaid(django_capture_on_commit_callbacks)
    browser_confirms(payment, "pm_card_visa")

    # When the shipper cancels the draft (Stripe refuses to cancel a paid intent)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    # Then the payment is recorded as paid and refunded in full, not marked cancelled
    payment.refresh_from_db()
    assert [to for _from, to in events_of(payment)] == [P.REQUIRES_PAYMENT, P.SUCCEEDED, P.REFUNDED]
    assert charge_refunded(payment) == payment.amount == payment.amount_refunded
    assert len(Refund.objects.filter(payment=payment)) == 1
    assert balances(payment) == {}

    # And the late payment_intent.succeeded changes nothing more
    payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED and charge_refunded(payment) == payment.amount


def test_a_new_card_after_a_browser_payment_is_refused_as_already_paid(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given the browser paid the waiting intent; Waypost has not heard yet
    parcel, waiting = _unpaid(django_capture_on_commit_callbacks)
    browser_confirms(waiting, "pm_card_visa")

    # When the shipper also submits a saved card
    with (
        pytest.raises(ConflictError) as exc,
        django_capture_on_commit_callbacks(execute=True),
    ):
        payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")

    # Then the first payment counts and no second intent is charged
    assert exc.value.code == "already_paid"
    waiting.refresh_from_db()
    parcel.refresh_from_db()
    assert waiting.status == P.SUCCEEDED and parcel.status == ParcelStatus.OPEN
    assert list(Payment.objects.filter(parcel=parcel)) == [waiting]


def test_a_new_attempt_cancels_the_failed_one_so_an_old_tab_cannot_pay_it(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given an intent that failed (3-D Secure) and a new attempt that paid
    parcel, failed = _unpaid(django_capture_on_commit_callbacks)
    browser_fails_3d_secure(failed)
    payment_sync(payment_intent_id=failed.stripe_payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        paid = payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")
    assert paid.status == P.SUCCEEDED

    # When a forgotten browser tab tries the failed intent again
    intent = browser_confirms(failed, "pm_card_visa")

    # Then Stripe refuses: the failed intent was cancelled when the new attempt started
    failed.refresh_from_db()
    assert failed.status == P.CANCELED and intent["status"] == "canceled"
    assert events_of(failed)[-1] == (P.FAILED, P.CANCELED)
    with django_capture_on_commit_callbacks(execute=True):
        payment_sync(payment_intent_id=failed.stripe_payment_intent_id)
    assert list(Payment.objects.filter(parcel=parcel).exclude(status=P.CANCELED)) == [paid]


def test_a_new_card_supersedes_the_waiting_intent(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given the payment page opened an intent
    parcel, waiting = _unpaid(django_capture_on_commit_callbacks)

    # When the shipper pays with a saved card instead
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(
            parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa"
        )

    # Then the first intent is cancelled (at Stripe too) and the second one paid
    waiting.refresh_from_db()
    assert waiting.status == P.CANCELED and intent_status(waiting) == "canceled"
    assert payment.status == P.SUCCEEDED


# --- cancelling a paid parcel -----------------------------------------------------------------
def test_succeeded_to_refunded_when_cancelled_before_a_courier(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    payment.refresh_from_db()
    assert payment.status == P.REFUNDED
    assert events_of(payment)[-1] == (P.SUCCEEDED, P.REFUNDED)
    assert payment.amount_refunded == payment.amount == charge_refunded(payment)
    (refund,) = Refund.objects.filter(payment=payment)
    assert refund.amount == payment.amount and refund.stripe_refund_id.startswith("re_")
    assert balances(payment) == {}  # in and out of escrow, in and out of the Stripe balance


def test_succeeded_to_refunded_when_cancelled_before_the_trip_starts(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a courier accepted the parcel but has not set off
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    delivery = assign(parcel, trip)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    # Then no fee: everything goes back
    delivery.refresh_from_db()
    payment.refresh_from_db()
    assert delivery.status == DeliveryStatus.CANCELLED and delivery.cancellation_fee == 0
    assert payment.status == P.REFUNDED and charge_refunded(payment) == payment.amount
    assert not Transfer.objects.exists()


def test_succeeded_to_partially_refunded_when_cancelled_with_the_courier_on_the_way(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings
):
    # Given a courier who can be paid accepted the parcel and started the trip
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    delivery = assign(parcel, trip)
    trip_start(trip=trip, actor=trip.courier)

    # When the shipper cancels
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    # Then the shipper gets all but the fee back, and the fee goes to the courier
    fee = min(settings.CANCELLATION_FEE, payment.amount)
    delivery.refresh_from_db()
    payment.refresh_from_db()
    assert delivery.cancellation_fee == fee
    assert payment.status == P.PARTIALLY_REFUNDED
    assert events_of(payment)[-1] == (P.SUCCEEDED, P.PARTIALLY_REFUNDED)
    assert payment.amount_refunded == payment.amount - fee == charge_refunded(payment)
    transfer = Transfer.objects.get(payment=payment)
    assert (transfer.kind, transfer.amount, transfer.status) == (
        TransferKind.CANCELLATION_FEE,
        fee,
        TransferStatus.PAID,
    )
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["id"] == transfer.stripe_transfer_id and sent["amount"] == fee
    assert balances(payment) == {}


def test_the_cancellation_fee_waits_for_a_courier_without_payouts(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    assign(parcel, trip)
    trip_start(trip=trip, actor=trip.courier)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    fee = min(settings.CANCELLATION_FEE, payment.amount)
    transfer = Transfer.objects.get(payment=payment)
    assert transfer.status == TransferStatus.WAITING and not stripe_connect.transfers
    assert balances(payment) == {"courier_payable": -fee, "stripe_balance": fee}


# --- delivering and reversing -----------------------------------------------------------------
def test_succeeded_to_released_on_delivery(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)

    payment.refresh_from_db()
    assert payment.status == P.RELEASED
    assert events_of(payment)[-1] == (P.SUCCEEDED, P.RELEASED)
    transfer = Transfer.objects.get(payment=payment)
    assert transfer.kind == TransferKind.RELEASE and transfer.status == TransferStatus.PAID
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["amount"] == payment.courier_share
    assert balances(payment) == {
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee,
    }


def test_released_to_reversed_after_the_transfer_went_out(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a delivered parcel whose share was transferred
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)
    transfer = Transfer.objects.get(payment=payment)

    # When support gives the money back
    payment = escrow_refund_after_release(payment_id=payment.pk, reason="Parcel damaged")

    # Then the transfer is reversed at Stripe, the shipper refunded in full, the ledger back to 0
    assert payment.status == P.REVERSED
    assert events_of(payment)[-1] == (P.RELEASED, P.REVERSED)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REVERSED
    assert transfer.amount_reversed == payment.courier_share
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["amount_reversed"] == payment.courier_share and sent["reversed"]
    assert payment.amount_refunded == payment.amount == charge_refunded(payment)
    assert balances(payment) == {}

    # And doing it again is refused
    with pytest.raises(ConflictError) as exc:
        escrow_refund_after_release(payment_id=payment.pk, reason="again")
    assert exc.value.code == "not_released"
    assert charge_refunded(payment) == payment.amount


def test_released_to_reversed_while_the_transfer_still_waits(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a delivered parcel whose courier cannot be paid yet
    trip, _parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)
    transfer = Transfer.objects.get(payment=payment)
    assert transfer.status == TransferStatus.WAITING

    payment = escrow_refund_after_release(payment_id=payment.pk, reason="Parcel lost")

    # Then the waiting transfer is cancelled (nothing asked of Stripe Connect)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REVERSED
    assert not any("reversals" in url for _, url in stripe_connect.calls)
    assert payment.status == P.REVERSED and charge_refunded(payment) == payment.amount
    assert balances(payment) == {}

    # And when the courier is later onboarded, nothing is sent
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    assert not stripe_connect.transfers


# --- refused moves ------------------------------------------------------------------------------
def _payment_in(status: str) -> Payment:
    parcel = make_parcel(publish=False)
    return Payment.objects.create(
        parcel=parcel,
        shipper=parcel.shipper,
        status=status,
        amount=parcel.price_total,
        platform_fee=parcel.platform_fee,
        courier_share=parcel.courier_share,
        currency=parcel.currency,
        stripe_payment_intent_id=stripe_id("pi"),
        client_secret="secret",
    )


REFUSED = [
    (current, target)
    for current in P.values
    for target in P.values
    if current != target and target not in PAYMENT_TRANSITIONS[current]
]


def test_the_table_names_every_status():
    assert set(PAYMENT_TRANSITIONS) == set(P.values)
    assert all(targets <= set(P.values) for targets in PAYMENT_TRANSITIONS.values())


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_a_move_outside_the_table_is_refused_and_changes_nothing(current, target):
    payment = _payment_in(current)

    with pytest.raises(TransitionNotAllowed) as exc:
        escrow.payment_move(Payment.objects.select_for_update().get(pk=payment.pk), target)

    assert exc.value.extra == {
        "from": current,
        "to": target,
        "allowed": sorted(PAYMENT_TRANSITIONS[current]),
    }
    payment.refresh_from_db()
    assert payment.status == current
    assert not PaymentEvent.objects.filter(payment=payment).exists()


@pytest.mark.parametrize("status", P.values)
def test_a_move_to_the_same_status_writes_nothing(status):
    payment = _payment_in(status)

    escrow.payment_move(payment, status)

    assert not PaymentEvent.objects.filter(payment=payment).exists()


# --- what localstripe would wrongly allow, refused by us ------------------------------------
def test_a_refund_larger_than_what_is_left_is_refused(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with pytest.raises(ConflictError) as exc:
        refunds.escrow_refund(
            payment_id=payment.pk, amount=payment.amount + 1, reason="too much", key="k-1"
        )
    assert exc.value.code == "refund_too_large"

    refunds.escrow_refund(payment_id=payment.pk, amount=100, reason="part", key="k-2")
    with pytest.raises(ConflictError) as exc:
        refunds.escrow_refund(
            payment_id=payment.pk, amount=payment.amount - 99, reason="rest+1", key="k-3"
        )
    assert exc.value.code == "refund_too_large"

    payment.refresh_from_db()
    assert payment.amount_refunded == 100 == charge_refunded(payment)
    assert Refund.objects.filter(payment=payment).count() == 1
    assert balances(payment) == {
        "stripe_balance": payment.amount - 100,
        "escrow": 100 - payment.amount,
    }


@pytest.mark.parametrize("card", [None, DECLINED_CARD])
def test_an_unpaid_payment_cannot_be_refunded(
    card, payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel = parcel_near()
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(parcel=parcel, shipper=parcel.shipper, payment_method=card)

    with pytest.raises(ConflictError) as exc:
        refunds.escrow_refund(payment_id=payment.pk, amount=100, reason="no", key="k")

    assert exc.value.code == "not_refundable"
    assert not Refund.objects.exists() and balances(payment) == {}


def test_a_cancelled_payment_cannot_be_refunded(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = _unpaid(django_capture_on_commit_callbacks)
    escrow.payment_cancel(payment=payment)

    with pytest.raises(ConflictError) as exc:
        refunds.escrow_refund(payment_id=payment.pk, amount=100, reason="no", key="k")

    assert exc.value.code == "not_refundable"
    assert not Refund.objects.exists()


def test_a_released_payment_is_not_refunded_directly(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _trip, _parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    with pytest.raises(ConflictError) as exc:
        refunds.escrow_refund(payment_id=payment.pk, amount=100, reason="no", key="k")

    assert exc.value.code == "not_refundable"
    assert charge_refunded(payment) == 0


def test_a_paid_payment_cannot_be_cancelled(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with pytest.raises(ConflictError) as exc:
        escrow.payment_cancel(payment=payment)

    assert exc.value.code == "not_cancellable"
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and intent_status(payment) == "succeeded"
    assert payment.events.count() == 2


def test_a_parcel_cannot_be_paid_twice(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with pytest.raises(ConflictError) as exc:
        payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")

    assert exc.value.code == "already_paid"
    assert list(Payment.objects.filter(parcel=parcel)) == [payment]


def test_a_parcel_that_is_not_a_draft_cannot_be_paid(settings, stripe_connect):
    # Given payments are off: the parcel is published without paying
    settings.PAYMENTS_REQUIRED = False
    parcel = parcel_near()
    assert parcel.status == ParcelStatus.OPEN

    with pytest.raises(ConflictError) as exc:
        payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")

    assert exc.value.code == "not_payable"
    assert not Payment.objects.exists()


def test_a_cancelled_draft_cannot_be_paid(payments_on, stripe_connect):
    parcel = parcel_near()
    parcel_cancel(parcel=parcel, actor=parcel.shipper)

    with pytest.raises(ConflictError) as exc:
        payment_start(parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa")

    assert exc.value.code == "not_payable"
    assert not Payment.objects.exists()


def test_another_shipper_cannot_pay_for_the_parcel(payments_on, stripe_connect):
    parcel = parcel_near()
    other = ShipperFactory()

    with pytest.raises(NotAllowedError):
        payment_start(parcel=parcel, shipper=other, payment_method="pm_card_visa")

    assert not Payment.objects.exists()


def test_money_is_released_only_for_a_delivered_parcel(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    delivery = assign(parcel, trip)

    with pytest.raises(ConflictError) as exc:
        escrow.escrow_release(delivery_id=delivery.pk)

    assert exc.value.code == "not_delivered"
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and not Transfer.objects.exists()


def test_a_cancellation_fee_as_large_as_the_price_keeps_it_all_for_the_courier(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings
):
    # Given a fee setting above the parcel's price (the fee is capped at the price)
    settings.CANCELLATION_FEE = 1_000_000
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    assign(parcel, trip)
    trip_start(trip=trip, actor=trip.courier)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    # Then nothing is refunded (no zero refund asked of Stripe) and it all goes to the courier
    payment.refresh_from_db()
    assert payment.status == P.PARTIALLY_REFUNDED and payment.amount_refunded == 0
    assert charge_refunded(payment) == 0 and not Refund.objects.exists()
    transfer = Transfer.objects.get(payment=payment)
    assert (transfer.kind, transfer.amount) == (TransferKind.CANCELLATION_FEE, payment.amount)
    assert balances(payment) == {
        "courier_payable": -payment.amount,
        "stripe_balance": payment.amount,
    }


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, targets in PAYMENT_TRANSITIONS.items() for t in sorted(targets) if c != t],
)
def test_every_move_in_the_table_is_accepted_with_an_audit_row(current, target):
    payment = _payment_in(current)

    escrow.payment_move(payment, target, "by hand")

    payment.refresh_from_db()
    assert payment.status == target
    assert events_of(payment) == [(current, target)]


def test_succeeded_to_refunded_when_the_parcel_expires_without_a_courier(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        assert parcels_expire(now=parcel.pickup_window_end + timedelta(minutes=1)) == 1

    parcel.refresh_from_db()
    payment.refresh_from_db()
    assert parcel.status == ParcelStatus.EXPIRED
    assert payment.status == P.REFUNDED and charge_refunded(payment) == payment.amount
    assert balances(payment) == {}
