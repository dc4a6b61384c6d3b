"""The ledger: postings as documented in marketplace/payments/ledger.py, posted once per source,
balanced and append-only in the database itself."""

import pytest
from django.db import DatabaseError, connection, transaction

from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.payments import ledger
from marketplace.payments.escrow import escrow_release
from marketplace.payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.payments.refunds import escrow_refund_after_release
from marketplace.payments.tips import tip_start
from tests.payments.helpers import (
    assign,
    balances,
    deliver,
    delivered_payment,
    onboard,
    paid_parcel,
    trip_and_parcel,
)

pytestmark = pytest.mark.django_db
A = LedgerAccount


def _kinds(payment):
    return list(
        LedgerTransaction.objects.filter(payment=payment)
        .order_by("created_at", "id")
        .values_list("kind", flat=True)
    )


def _entries(payment, kind):
    txn = LedgerTransaction.objects.get(payment=payment, kind=kind)
    return {(e.account, e.amount, e.courier_id) for e in txn.entries.all()}


def test_each_step_posts_what_the_ledger_documents(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # pay, deliver, tip, transfer both
    trip, _parcel, payment, delivery = delivered_payment(django_capture_on_commit_callbacks)
    courier = trip.courier.pk
    with django_capture_on_commit_callbacks(execute=True):
        tip = tip_start(
            delivery=delivery, shipper=payment.shipper, amount=250, payment_method="pm_card_visa"
        )
    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)
    # then give it all back
    escrow_refund_after_release(payment_id=payment.pk, reason="support")

    fee, share, amount = payment.platform_fee, payment.courier_share, payment.amount
    assert _entries(payment, "payment") == {
        (A.STRIPE_BALANCE, amount, None),
        (A.ESCROW, -amount, None),
    }
    assert _entries(payment, "earned") == {
        (A.ESCROW, amount, None),
        (A.PLATFORM_REVENUE, -fee, None),
        (A.COURIER_PAYABLE, -share, courier),
    }
    assert _entries(payment, "tip") == {
        (A.STRIPE_BALANCE, tip.amount, None),
        (A.COURIER_PAYABLE, -tip.amount, courier),
    }
    transfers = LedgerTransaction.objects.filter(payment=payment, kind="transfer")
    assert sorted(
        e.amount for t in transfers for e in t.entries.all() if e.account == A.COURIER_PAYABLE
    ) == sorted([share, tip.amount])
    assert _entries(payment, "reversal") == {
        (A.STRIPE_BALANCE, share, None),
        (A.COURIER_PAYABLE, -share, courier),
    }
    assert _entries(payment, "unearned") == {
        (A.PLATFORM_REVENUE, fee, None),
        (A.COURIER_PAYABLE, share, courier),
        (A.ESCROW, -amount, None),
    }
    assert _entries(payment, "refund") == {
        (A.ESCROW, amount, None),
        (A.STRIPE_BALANCE, -amount, None),
    }
    # The tip stays with the courier: sent, not reversed.
    assert balances(payment) == {}
    assert ledger.balances(courier=trip.courier) == {}
    assert ledger.total() == 0


def test_a_cancellation_fee_posting(
    payments_on, stripe_connect, django_capture_on_commit_callbacks, settings
):
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    delivery = assign(parcel, trip)
    trip_start(trip=trip, actor=trip.courier)

    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=parcel.shipper)

    fee = min(settings.CANCELLATION_FEE, payment.amount)
    assert _kinds(payment) == ["payment", "cancellation_fee", "refund"]
    assert _entries(payment, "cancellation_fee") == {
        (A.ESCROW, fee, None),
        (A.COURIER_PAYABLE, -fee, delivery.courier_id),
    }
    assert ledger.balances(courier=trip.courier) == {"courier_payable": -fee}
    assert ledger.total() == 0


def test_balances_filter_by_courier_and_by_payment(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, _parcel, first, _d = delivered_payment(django_capture_on_commit_callbacks)
    _parcel2, second = paid_parcel(django_capture_on_commit_callbacks)

    assert ledger.balances(courier=trip.courier) == {"courier_payable": -first.courier_share}
    assert balances(second) == {"stripe_balance": second.amount, "escrow": -second.amount}
    assert ledger.balances() == {
        "courier_payable": -first.courier_share,
        "escrow": -second.amount,
        "platform_revenue": -first.platform_fee,
        "stripe_balance": first.amount + second.amount,
    }
    assert ledger.total() == 0


# --- posting once -------------------------------------------------------------------------------
def test_posting_the_same_source_twice_posts_once(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    entries = [(A.ESCROW, 100, None), (A.PLATFORM_REVENUE, -100, None)]

    first = ledger.post(kind="test", source="test:1", payment=payment, entries=entries)
    again = ledger.post(kind="test", source="test:1", payment=payment, entries=entries)

    assert first is not None and again is None
    assert LedgerTransaction.objects.filter(source="test:1").count() == 1
    assert LedgerEntry.objects.filter(transaction=first).count() == 2


def test_an_unbalanced_posting_is_refused_before_the_database(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    before = LedgerEntry.objects.count()

    with pytest.raises(ValueError, match="unbalanced"):
        ledger.post(kind="test", source="test:2", payment=payment, entries=[(A.ESCROW, 100, None)])

    assert LedgerEntry.objects.count() == before
    assert not LedgerTransaction.objects.filter(source="test:2").exists()


def test_zero_lines_are_dropped_and_an_empty_posting_is_none(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    empty = ledger.post(kind="t", source="t:0", payment=payment, entries=[(A.ESCROW, 0, None)])
    txn = ledger.post(
        kind="t",
        source="t:1",
        payment=payment,
        entries=[(A.ESCROW, 5, None), (A.DISPUTES, 0, None), (A.STRIPE_BALANCE, -5, None)],
    )

    assert empty is None and not LedgerTransaction.objects.filter(source="t:0").exists()
    assert txn is not None and txn.entries.count() == 2


# --- the database's own guards ------------------------------------------------------------------
def _bare_transaction(payment, source):
    return LedgerTransaction.objects.create(
        kind="manual",
        source=source,
        parcel_id=payment.parcel_id,
        payment=payment,
        currency=payment.currency,
    )


def _check_now():
    """The balance trigger is DEFERRABLE INITIALLY DEFERRED: fire it now, not at commit."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _defer_again():
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_the_database_refuses_an_unbalanced_transaction(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        txn = _bare_transaction(payment, "manual:1")
        LedgerEntry.objects.create(transaction=txn, account=A.ESCROW, amount=100)
        LedgerEntry.objects.create(transaction=txn, account=A.STRIPE_BALANCE, amount=-99)
        _check_now()
    _defer_again()

    assert not LedgerTransaction.objects.filter(source="manual:1").exists()


def test_the_database_accepts_a_balanced_transaction(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with transaction.atomic():
        txn = _bare_transaction(payment, "manual:2")
        LedgerEntry.objects.create(transaction=txn, account=A.ESCROW, amount=100)
        LedgerEntry.objects.create(transaction=txn, account=A.STRIPE_BALANCE, amount=-100)
        _check_now()
    _defer_again()

    assert LedgerEntry.objects.filter(transaction__source="manual:2").count() == 2


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE payments_ledgerentry SET amount = amount * 2 WHERE transaction_id = %s",
        "DELETE FROM payments_ledgerentry WHERE transaction_id = %s",
        "UPDATE payments_ledgertransaction SET memo = 'edited' WHERE id = %s",
        "DELETE FROM payments_ledgertransaction WHERE id = %s",
    ],
)
def test_posted_rows_cannot_be_changed_or_deleted(
    sql, payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)
    txn = LedgerTransaction.objects.get(payment=payment, kind="payment")
    before = balances(payment)

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [txn.pk])

    assert balances(payment) == before
    assert LedgerTransaction.objects.get(pk=txn.pk).memo == txn.memo


def test_the_orm_cannot_edit_the_ledger_either(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(django_capture_on_commit_callbacks)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(transaction__payment=payment).update(amount=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(transaction__payment=payment).delete()

    assert balances(payment) == {"stripe_balance": payment.amount, "escrow": -payment.amount}


def test_delivery_and_replays_keep_the_whole_ledger_at_zero(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a released payment, when the release runs again (a retried task)
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    delivery = deliver(django_capture_on_commit_callbacks, assign(parcel, trip), trip.courier)
    before = balances(payment)
    with django_capture_on_commit_callbacks(execute=True):
        escrow_release(delivery_id=delivery.pk)

    # Then nothing more is posted
    assert balances(payment) == before
    assert _kinds(payment) == ["payment", "earned"]
    assert ledger.total() == 0
