"""Tips after delivery: their own PaymentIntent, all of it for the courier (booked against the
parcel's payment, sent as a transfer of its own)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.payments import gateway, ledger
from marketplace.payments.escrow import payment_held
from marketplace.payments.intents import intent_charge_id, intent_confirm, intent_create
from marketplace.payments.models import LedgerAccount, Tip, TransferKind
from marketplace.payments.transfers import transfer_queue

A = LedgerAccount


def tip_of_intent(payment_intent_id: str) -> Tip | None:
    return Tip.objects.filter(stripe_payment_intent_id=payment_intent_id).first()


def tip_start(
    *,
    delivery: Delivery,
    shipper: User,
    amount: int,
    payment_method: str | None = None,
    card_token: str | None = None,
) -> Tip:
    """A tip after delivery: its own PaymentIntent; all of it goes to the courier. Paid like
    the parcel (`payment_start`): a saved `payment_method`, a Stripe.js `card_token`, or
    neither (the client confirms with the client secret)."""

    if delivery.parcel.shipper_id != shipper.pk:
        raise NotAllowedError(gettext("This is not your parcel."), code="not_owner")
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ConflictError(
            gettext("Tips open once the parcel is delivered."), code="not_delivered"
        )
    if not 1 <= amount <= 100_000:
        raise ApplicationError(
            gettext("A tip must be between 1 and 100 000 minor units."),
            fields={"amount": [gettext("Out of range.")]},
        )
    if payment_held(delivery.parcel_id) is None:
        # _tip_sync books a tip against the parcel's payment: refuse before charging the card.
        raise ConflictError(
            gettext("Only a parcel paid on Waypost can take a tip."), code="not_paid"
        )
    attempt = Tip.objects.filter(delivery=delivery).count() + 1
    intent, payment_method = intent_create(
        shipper=shipper,
        amount=amount,
        currency=delivery.parcel.currency,
        metadata={"delivery_id": str(delivery.pk), "kind": "tip"},
        key=f"delivery-{delivery.pk}-tip-{attempt}",
        payment_method=payment_method,
        card_token=card_token,
    )
    tip = Tip.objects.create(
        delivery=delivery,
        shipper=shipper,
        amount=amount,
        currency=delivery.parcel.currency,
        stripe_payment_intent_id=intent["id"],
        client_secret=intent["client_secret"],
    )
    if payment_method:
        intent_confirm(intent["id"])
        tip_apply_intent(tip=tip, intent=gateway.payment_intent_retrieve(intent["id"]))
        tip.refresh_from_db()
    return tip


@transaction.atomic
def tip_apply_intent(*, tip: Tip, intent: dict[str, Any]) -> Tip:
    """The tip's intent succeeded: the courier is owed it all (ledger) and a transfer is queued."""
    tip = Tip.objects.select_for_update().get(pk=tip.pk)
    if tip.succeeded or intent["status"] != "succeeded":
        return tip
    payment = payment_held(tip.delivery.parcel_id)
    if payment is None:
        raise ConflictError(gettext("A tip needs the parcel's payment to be recorded."))
    tip.succeeded = True
    tip.stripe_charge_id = intent_charge_id(intent)
    tip.save()
    ledger.post(
        kind="tip",
        source=f"charge:{tip.stripe_charge_id}",
        payment=payment,
        entries=[
            (A.STRIPE_BALANCE, tip.amount, None),
            (A.COURIER_PAYABLE, -tip.amount, tip.delivery.courier_id),
        ],
        memo=f"Tip on delivery {tip.delivery_id}",
    )
    transfer_queue(
        payment=payment,
        delivery=tip.delivery,
        kind=TransferKind.TIP,
        amount=tip.amount,
        key=f"tip-{tip.pk}-transfer",
    )
    return tip
