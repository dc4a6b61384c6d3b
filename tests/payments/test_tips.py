"""Tips: after delivery only, by the parcel's shipper, all of it for the courier."""

import pytest
from rest_framework.test import APIClient

from marketplace.lifecycle.paying import payment_sync
from marketplace.payments import gateway, ledger
from marketplace.payments.models import Tip, Transfer, TransferKind, TransferStatus
from tests.factories.accounts import ShipperFactory
from tests.payments.helpers import (
    DECLINED_CARD,
    assign,
    browser_confirms,
    card_token,
    delivered_payment,
    onboard,
    trip_and_parcel,
)
from tests.payments.stripe_fakes import event, post_event

pytestmark = pytest.mark.django_db


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _tip(client, parcel, **data):
    return client.post(f"/api/v1/parcels/{parcel.pk}/tip/", data, format="json")


def test_a_tip_after_delivery_goes_to_the_courier_in_full(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # Given a delivered parcel and a courier who can be paid
    trip, parcel, _payment, delivery = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    # When the shipper tips with their card
    with django_capture_on_commit_callbacks(execute=True):
        response = _tip(_as(parcel.shipper), parcel, amount=250, payment_method="pm_card_visa")

    # Then the tip is paid and transferred to the courier, all of it
    assert response.status_code == 201
    body = response.json()
    assert (body["amount"], body["succeeded"]) == (250, True)
    tip = Tip.objects.get()
    assert tip.delivery == delivery and tip.stripe_charge_id
    transfer = Transfer.objects.get(kind=TransferKind.TIP)
    assert (transfer.amount, transfer.status, transfer.courier) == (
        250,
        TransferStatus.PAID,
        trip.courier,
    )
    sent = {t["id"]: t for t in stripe_connect.transfers_to(account.stripe_account_id)}
    assert sent[transfer.stripe_transfer_id]["amount"] == 250
    # Both the share and the tip went out: nothing is owed to the courier
    assert ledger.balances(courier=trip.courier) == {}
    tip_posting = ledger.balances(transaction__source=f"charge:{tip.stripe_charge_id}")
    assert tip_posting == {"stripe_balance": 250, "courier_payable": -250}
    assert ledger.total() == 0


def test_a_tip_waits_for_the_couriers_payouts(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        _tip(_as(parcel.shipper), parcel, amount=300, payment_method="pm_card_visa")

    assert Transfer.objects.get(kind=TransferKind.TIP).status == TransferStatus.WAITING
    assert ledger.balances(courier=trip.courier) == {
        "courier_payable": -(payment.courier_share + 300)
    }

    onboard(django_capture_on_commit_callbacks, stripe_connect, trip.courier)

    assert not Transfer.objects.filter(status=TransferStatus.WAITING).exists()
    assert sorted(t["amount"] for t in stripe_connect.transfers.values()) == sorted(
        [300, payment.courier_share]
    )


def test_a_tip_confirmed_in_the_browser_is_recorded_by_the_webhook(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)
    response = _tip(_as(parcel.shipper), parcel, amount=150)
    assert response.status_code == 201 and response.json()["succeeded"] is False
    assert response.json()["client_secret"]
    tip = Tip.objects.get()

    # When the browser pays it and Stripe says so (twice)
    browser_confirms(tip, "pm_card_visa")
    payload = event(
        "payment_intent.succeeded", gateway.payment_intent_retrieve(tip.stripe_payment_intent_id)
    )
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            post_event(client, payload)
    payment_sync(payment_intent_id=tip.stripe_payment_intent_id)

    # Then the tip is recorded once
    tip.refresh_from_db()
    assert tip.succeeded
    assert Transfer.objects.filter(kind=TransferKind.TIP).count() == 1
    assert ledger.balances(transaction__kind="tip") == {
        "stripe_balance": 150,
        "courier_payable": -150,
    }


def test_a_tip_with_a_card_token(payments_on, stripe_connect, django_capture_on_commit_callbacks):
    _trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = _tip(_as(parcel.shipper), parcel, amount=200, card_token=card_token())

    assert response.status_code == 201 and response.json()["succeeded"] is True


def test_a_declined_tip_moves_no_money(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = _tip(_as(parcel.shipper), parcel, amount=200, payment_method=DECLINED_CARD)

    assert response.status_code == 201 and response.json()["succeeded"] is False
    assert not Transfer.objects.filter(kind=TransferKind.TIP).exists()
    assert not ledger.balances(transaction__kind="tip")


# --- refused ----------------------------------------------------------------------------------
def test_a_tip_before_delivery_is_refused(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    trip, parcel, _payment = trip_and_parcel(django_capture_on_commit_callbacks)
    assign(parcel, trip)

    response = _tip(_as(parcel.shipper), parcel, amount=200, payment_method="pm_card_visa")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_delivered"
    assert not Tip.objects.exists()


def test_a_tip_without_a_courier_is_not_found(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _trip, parcel, _payment = trip_and_parcel(django_capture_on_commit_callbacks)

    response = _tip(_as(parcel.shipper), parcel, amount=200, payment_method="pm_card_visa")

    assert response.status_code == 404
    assert not Tip.objects.exists()


def test_another_shipper_cannot_tip_on_the_parcel(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    response = _tip(_as(ShipperFactory()), parcel, amount=200, payment_method="pm_card_visa")

    assert response.status_code == 404
    assert not Tip.objects.exists() and not Transfer.objects.filter(kind="tip").exists()


def test_a_courier_cannot_tip(payments_on, stripe_connect, django_capture_on_commit_callbacks):
    trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    response = _tip(_as(trip.courier), parcel, amount=200, payment_method="pm_card_visa")

    assert response.status_code == 403
    assert not Tip.objects.exists()


@pytest.mark.parametrize("amount", [0, -5, 100_001, "lots"])
def test_a_tip_out_of_range_is_refused(
    amount, payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    _trip, parcel, _payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)

    response = _tip(_as(parcel.shipper), parcel, amount=amount, payment_method="pm_card_visa")

    assert response.status_code == 400
    assert "amount" in response.json()["error"]["fields"]
    assert not Tip.objects.exists()
