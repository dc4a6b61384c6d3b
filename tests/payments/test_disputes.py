"""Disputes: opening freezes the payment (no transfer goes out), Stripe's outcome or an admin's
decision unfreezes it, in whatever order the events come; the ledger as documented."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.payments import ledger
from marketplace.payments.disputes import dispute_resolve, dispute_sync
from marketplace.payments.models import (
    Dispute,
    DisputeStatus,
    PaymentStatus,
    Transfer,
    TransferStatus,
    WebhookEvent,
)
from marketplace.payments.tasks import send_due_transfers
from tests.payments.helpers import (
    assign,
    balances,
    charge_refunded,
    deliver,
    delivered_payment,
    events_of,
    onboard,
    paid_parcel,
    trip_and_parcel,
)
from tests.payments.stripe_fakes import event, post_event

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _dispute(client, capture, connect, payment, *, status="needs_response", kind="created"):
    """Stripe opens a dispute on the payment's charge and tells us."""
    data = connect.open_dispute(charge_id=payment.stripe_charge_id, amount=payment.amount)
    if status != "needs_response":
        data = connect.close_dispute(data["id"], status)
    with capture(execute=True):
        response = post_event(client, event(f"charge.dispute.{kind}", data))
    assert response.status_code == 200
    payment.refresh_from_db()
    return data


def _close(client, capture, connect, payment, dispute_id, outcome):
    data = connect.close_dispute(dispute_id, outcome)
    with capture(execute=True):
        assert post_event(client, event("charge.dispute.closed", data)).status_code == 200
    payment.refresh_from_db()
    return data


# --- freezing -----------------------------------------------------------------------------------
def test_a_dispute_freezes_a_held_payment_and_delivery_releases_nothing(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a paid parcel with a courier who can be paid
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    # When the shipper disputes the charge
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)

    # Then the money is frozen, the withdrawal is in the ledger
    assert payment.status == P.DISPUTED and payment.is_frozen
    assert payment.status_before_dispute == P.SUCCEEDED
    assert events_of(payment)[-1] == (P.SUCCEEDED, P.DISPUTED)
    dispute = Dispute.objects.get()
    assert (dispute.stripe_dispute_id, dispute.amount, dispute.status) == (
        data["id"],
        payment.amount,
        DisputeStatus.OPEN,
    )
    assert balances(payment) == {"disputes": payment.amount, "escrow": -payment.amount}

    # When the parcel is delivered while frozen
    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)

    # Then nothing is released or transferred
    payment.refresh_from_db()
    assert payment.status == P.DISPUTED
    assert not Transfer.objects.exists() and not stripe_connect.transfers

    # When Stripe closes the dispute in our favour
    _close(client, django_capture_on_commit_callbacks, stripe_connect, payment, data["id"], "won")

    # Then the delivered parcel's money is released and the share transferred
    assert payment.status == P.RELEASED
    assert [to for _f, to in events_of(payment)][-3:] == [P.DISPUTED, P.SUCCEEDED, P.RELEASED]
    assert Transfer.objects.get(payment=payment).status == TransferStatus.PAID
    assert len(stripe_connect.transfers) == 1
    assert balances(payment) == {
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee,
    }


def test_a_frozen_transfer_does_not_go_out_when_payouts_are_enabled(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a released payment whose share waits for the courier's payouts
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    transfer = Transfer.objects.get(payment=payment)

    # When the charge is disputed and then the courier's payouts are enabled
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    assert payment.status == P.DISPUTED and payment.status_before_dispute == P.RELEASED
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    assert send_due_transfers() == 0

    # Then nothing goes out
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.WAITING and not stripe_connect.transfers

    # When the dispute is won
    _close(client, django_capture_on_commit_callbacks, stripe_connect, payment, data["id"], "won")

    # Then the payment is released again and the waiting transfer goes, once
    assert payment.status == P.RELEASED and events_of(payment)[-1] == (P.DISPUTED, P.RELEASED)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    assert len(stripe_connect.transfers_to(account.stripe_account_id)) == 1
    assert Dispute.objects.get().status == DisputeStatus.WON
    assert balances(payment) == {
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee,
    }


def test_a_partly_refunded_payment_goes_back_to_partly_refunded_when_won(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, settings
):
    # Given a parcel cancelled with the courier on the way: refunded minus the fee
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    assign(parcel, trip)
    trip_start(trip=trip, actor=trip.courier)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)
    payment.refresh_from_db()
    assert payment.status == P.PARTIALLY_REFUNDED
    before = balances(payment)

    # When the shipper disputes the fee and Waypost wins
    fee = min(settings.CANCELLATION_FEE, payment.amount)
    data = stripe_connect.open_dispute(charge_id=payment.stripe_charge_id, amount=fee)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event("charge.dispute.created", data))
    payment.refresh_from_db()
    assert payment.status == P.DISPUTED
    _close(client, django_capture_on_commit_callbacks, stripe_connect, payment, data["id"], "won")

    # Then the payment is back where it was, the ledger too
    assert events_of(payment)[-2:] == [
        (P.PARTIALLY_REFUNDED, P.DISPUTED),
        (P.DISPUTED, P.PARTIALLY_REFUNDED),
    ]
    assert balances(payment) == before


# --- lost -------------------------------------------------------------------------------------
def test_a_dispute_lost_before_delivery_takes_the_held_money(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)

    _close(client, django_capture_on_commit_callbacks, stripe_connect, payment, data["id"], "lost")

    assert payment.status == P.DISPUTE_LOST
    assert events_of(payment)[-1] == (P.DISPUTED, P.DISPUTE_LOST)
    assert Dispute.objects.get().status == DisputeStatus.LOST
    # The charge came in and went out again through the dispute: nothing held, nothing lost.
    assert balances(payment) == {}
    assert ledger.total() == 0


def test_a_dispute_lost_after_the_transfer_is_the_platforms_loss(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)

    _close(client, django_capture_on_commit_callbacks, stripe_connect, payment, data["id"], "lost")

    assert payment.status == P.DISPUTE_LOST
    assert balances(payment) == {
        "dispute_losses": payment.amount,
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": -payment.courier_share,
    }
    assert ledger.total() == 0
    assert len(stripe_connect.transfers) == 1  # the courier keeps what they earned


# --- out of order and replays -----------------------------------------------------------------
@pytest.mark.parametrize(("outcome", "final"), [("won", P.SUCCEEDED), ("lost", P.DISPUTE_LOST)])
def test_closed_before_created_still_ends_right(
    outcome, final, payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    data = stripe_connect.open_dispute(charge_id=payment.stripe_charge_id, amount=payment.amount)
    created = event("charge.dispute.created", data)
    closed = event("charge.dispute.closed", stripe_connect.close_dispute(data["id"], outcome))

    # When the closing event arrives first
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, closed)
    payment.refresh_from_db()
    after_closed = (payment.status, balances(payment), payment.events.count())

    # Then the outcome is applied (frozen, then settled)
    assert payment.status == final
    assert Dispute.objects.get().status == outcome
    assert [to for _f, to in events_of(payment)][-2:] == [P.DISPUTED, final]
    if outcome == "won":
        assert balances(payment) == {"stripe_balance": payment.amount, "escrow": -payment.amount}

    # When the opening event arrives late
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, created)

    # Then nothing changes
    payment.refresh_from_db()
    assert (payment.status, balances(payment), payment.events.count()) == after_closed
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 2


def test_replayed_dispute_events_change_nothing(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    frozen = (payment.status, balances(payment), payment.events.count())

    for kind in ("created", "updated", "funds_withdrawn"):
        with django_capture_on_commit_callbacks(execute=True):
            post_event(client, event(f"charge.dispute.{kind}", data))

    payment.refresh_from_db()
    assert (payment.status, balances(payment), payment.events.count()) == frozen
    assert Dispute.objects.count() == 1


def test_a_dispute_on_an_unknown_charge_is_ignored(stripe_connect, localstripe_server):
    data = stripe_connect.open_dispute(charge_id="ch_not_ours", amount=500)

    assert dispute_sync(dispute_id=data["id"]) is None
    assert not Dispute.objects.exists()


# --- an admin decides -------------------------------------------------------------------------
@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser(email="admin@example.com", password="x", full_name="Ada")


@pytest.fixture
def admin_web(client, admin_user):
    client.force_login(admin_user)
    return client


def _admin_action(admin_web, action, dispute):
    response = admin_web.post(
        reverse("admin:payments_dispute_changelist"),
        {"action": action, "_selected_action": [dispute.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_releases_a_delivered_frozen_payment_to_the_courier(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web, admin_user
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)
    dispute = Dispute.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        messages = _admin_action(admin_web, "release_to_courier", dispute)

    assert messages == [f"{dispute.stripe_dispute_id}: release done."]
    payment.refresh_from_db()
    assert payment.status == P.RELEASED
    assert Transfer.objects.get(payment=payment).status == TransferStatus.PAID
    dispute.refresh_from_db()
    assert dispute.resolution.startswith("release") and dispute.resolved_by == admin_user


def test_admin_cannot_release_an_undelivered_parcel_and_nothing_changes(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    dispute = Dispute.objects.get()
    before = (payment.status, payment.events.count(), balances(payment))

    with django_capture_on_commit_callbacks(execute=True):
        messages = _admin_action(admin_web, "release_to_courier", dispute)

    assert len(messages) == 1 and "not delivered" in messages[0]
    payment.refresh_from_db()
    assert (payment.status, payment.events.count(), balances(payment)) == before
    dispute.refresh_from_db()
    assert dispute.resolution == "" and dispute.resolved_by is None


def test_admin_refunds_a_frozen_payment_in_full(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    dispute = Dispute.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        messages = _admin_action(admin_web, "refund_in_full", dispute)

    assert messages == [f"{dispute.stripe_dispute_id}: refund done."]
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED and events_of(payment)[-1][1] == P.REFUNDED
    assert charge_refunded(payment) == payment.amount == payment.amount_refunded
    assert ledger.total() == 0


def test_admin_refunds_a_released_frozen_payment_by_reversing_the_transfer(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web
):
    # Given the share was transferred, then the charge disputed
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    dispute = Dispute.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        messages = _admin_action(admin_web, "refund_in_full", dispute)

    assert messages == [f"{dispute.stripe_dispute_id}: refund done."]
    payment.refresh_from_db()
    assert payment.status == P.REVERSED
    (sent,) = stripe_connect.transfers_to(account.stripe_account_id)
    assert sent["amount_reversed"] == payment.courier_share
    assert charge_refunded(payment) == payment.amount
    assert ledger.total() == 0


def test_admin_refunding_a_released_payment_does_not_send_the_waiting_share_first(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web
):
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)  # payouts now on
    dispute = Dispute.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        _admin_action(admin_web, "refund_in_full", dispute)

    payment.refresh_from_db()
    assert payment.status == P.REVERSED
    assert not stripe_connect.transfers  # cancelled while waiting, never sent and reversed
    assert Transfer.objects.get(payment=payment).status == TransferStatus.REVERSED
    assert balances(payment) == {"disputes": payment.amount, "stripe_balance": -payment.amount}


def test_admin_closes_a_dispute_and_the_payment_carries_on(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_web
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    data = _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    dispute = Dispute.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        messages = _admin_action(admin_web, "close_and_unfreeze", dispute)

    assert messages == [f"{dispute.stripe_dispute_id}: close done."]
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and events_of(payment)[-1] == (P.DISPUTED, P.SUCCEEDED)
    assert charge_refunded(payment) == 0

    # And a later update about the same dispute does not freeze it again
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event("charge.dispute.updated", data))
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED

    # And a second decision is refused: the payment is not frozen any more
    messages = _admin_action(admin_web, "close_and_unfreeze", dispute)
    assert messages == [f"{dispute.stripe_dispute_id}: This payment is not frozen."]


def test_admin_close_releases_a_parcel_delivered_while_frozen(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_user
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)
    deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)

    with django_capture_on_commit_callbacks(execute=True):
        dispute_resolve(dispute=Dispute.objects.get(), admin=admin_user, action="close")

    payment.refresh_from_db()
    assert payment.status == P.RELEASED
    assert Transfer.objects.get(payment=payment).amount == payment.courier_share


def test_an_unknown_admin_action_is_refused(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, admin_user
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    _dispute(client, django_capture_on_commit_callbacks, stripe_connect, payment)

    with pytest.raises(ApplicationError):
        dispute_resolve(dispute=Dispute.objects.get(), admin=admin_user, action="split")

    payment.refresh_from_db()
    assert payment.status == P.DISPUTED
