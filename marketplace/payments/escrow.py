"""Escrow: the shipper pays into the platform balance (a PaymentIntent per attempt), the money
is held until delivery and then earned (platform fee) and owed to the courier (a Transfer,
transfers.py). Every step is a checked transition of the Payment with an audit row, a balanced
ledger posting keyed by its Stripe object, and Stripe calls with deterministic idempotency keys
made outside our transactions. Refunds are refunds.py, disputes disputes.py, tips tips.py.

These change payments only: the parcel a payment opens is `marketplace.lifecycle.paying`'s.
Lock order, as everywhere: parcel, then trip, then payment and transfer rows.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.core.state_machine import check_transition
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.hooks import services as hooks
from marketplace.hooks.models import EventType
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import gateway, ledger
from marketplace.payments.intents import intent_charge_id, intent_confirm, intent_create
from marketplace.payments.models import (
    PAYMENT_TRANSITIONS,
    LedgerAccount,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Transfer,
    TransferKind,
)
from marketplace.payments.retries import RETRY
from marketplace.payments.transfers import transfer_queue

log = logging.getLogger(__name__)
P = PaymentStatus
A = LedgerAccount
# Attempts not (yet) paid: waiting for the card, or declined.
LIVE = (P.REQUIRES_PAYMENT, P.FAILED)
# The moves a merchant hears of (outbound webhooks): all but back to "waiting for the card".
MERCHANT_EVENTS: dict[str, str] = {
    P.SUCCEEDED: EventType.PAYMENT_SUCCEEDED,
    P.FAILED: EventType.PAYMENT_FAILED,
    P.CANCELED: EventType.PAYMENT_CANCELED,
    P.RELEASED: EventType.PAYMENT_RELEASED,
    P.PARTIALLY_REFUNDED: EventType.PAYMENT_PARTIALLY_REFUNDED,
    P.REFUNDED: EventType.PAYMENT_REFUNDED,
    P.REVERSED: EventType.PAYMENT_REVERSED,
    P.DISPUTED: EventType.PAYMENT_DISPUTED,
    P.DISPUTE_LOST: EventType.PAYMENT_DISPUTE_LOST,
}


def payment_move(payment: Payment, to: str, note: str = "") -> Payment:
    """Change a locked payment's status if the escrow table allows it, with an audit row and,
    for a merchant's parcel, its `payment.*` webhook event."""
    if payment.status == to:
        return payment
    check_transition(table=PAYMENT_TRANSITIONS, current=payment.status, target=to, label="payment")
    from_status = payment.status
    PaymentEvent.objects.create(
        payment=payment, from_status=from_status, to_status=to, note=note[:500]
    )
    payment.status = to
    payment.save()
    if to in MERCHANT_EVENTS:
        hooks.event_record(
            parcel=payment.parcel,
            type=MERCHANT_EVENTS[to],
            data={"payment": payment_data(payment), "from_status": from_status, "to_status": to},
        )
    return payment


def payment_data(payment: Payment) -> dict[str, Any]:
    """What a merchant's webhook says of a payment (amounts in the currency's minor unit)."""
    return {
        "id": payment.pk,
        "status": payment.status,
        "amount": payment.amount,
        "amount_refunded": payment.amount_refunded,
        "currency": payment.currency,
    }


def payment_lock(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def payment_held(parcel_id: int) -> Payment | None:
    return (
        Payment.objects.filter(parcel_id=parcel_id).exclude(status__in=[*LIVE, P.CANCELED]).first()
    )


# --- paying -------------------------------------------------------------------------------------
def payment_start(
    *,
    parcel: Parcel,
    shipper: User,
    payment_method: str | None = None,
    card_token: str | None = None,
) -> Payment:
    """Create (or return) the PaymentIntent for a draft parcel at its quoted price. With a
    `payment_method` (e.g. a saved card, or Stripe's test `pm_card_visa`) it is confirmed at
    once (read its outcome with a sync: `lifecycle.paying.payment_start` does); otherwise the
    client confirms it with the returned client secret (Stripe.js). An earlier attempt that
    turns out paid meanwhile raises `already_paid` with its payment recorded as paid."""
    parcel = Parcel.objects.get(pk=parcel.pk)
    if parcel.shipper_id != shipper.pk:
        raise NotAllowedError(gettext("This is not your parcel."), code="not_owner")
    paid = Payment.objects.filter(parcel=parcel).exclude(status__in=[*LIVE, P.CANCELED])
    if paid.exists():
        raise ConflictError(gettext("This parcel is already paid."), code="already_paid")
    if parcel.status != ParcelStatus.DRAFT:
        raise ConflictError(
            gettext("A %(status)s parcel cannot be paid for.") % {"status": parcel.status},
            code="not_payable",
        )
    live = Payment.objects.filter(parcel=parcel, status=P.REQUIRES_PAYMENT).first()
    if (
        live is not None
        and live.amount == parcel.price_total
        and payment_method is None
        and not card_token
    ):
        return live  # the same intent for the same price: a reload does not create another
    # Earlier attempts, waiting or declined, are cancelled at Stripe first: a forgotten browser
    # tab could still pay one, and the parcel would be paid twice.
    for earlier in Payment.objects.filter(parcel=parcel, status__in=LIVE).order_by("pk"):
        if payment_cancel(payment=earlier, note="Superseded").status != P.CANCELED:
            # the browser paid it meanwhile
            raise ConflictError(gettext("This parcel is already paid."), code="already_paid")
    attempt = Payment.objects.filter(parcel=parcel).count() + 1
    intent, payment_method = intent_create(
        shipper=shipper,
        amount=parcel.price_total,
        currency=parcel.currency,
        metadata={"parcel_id": str(parcel.pk), "kind": "parcel"},
        key=f"parcel-{parcel.pk}-payment-{attempt}",
        payment_method=payment_method,
        card_token=card_token,
    )
    payment = Payment.objects.create(
        parcel=parcel,
        shipper=shipper,
        amount=parcel.price_total,
        platform_fee=parcel.platform_fee,
        courier_share=parcel.courier_share,
        currency=parcel.currency,
        stripe_payment_intent_id=intent["id"],
        client_secret=intent["client_secret"],
    )
    PaymentEvent.objects.create(payment=payment, to_status=payment.status, note="Intent created")
    if payment_method:
        intent_confirm(intent["id"])
    return payment


class PaymentFailedError(ApplicationError):
    """A saved card was declined (or needs its holder, who is not there)."""

    code = "payment_failed"
    status_code = 402


def payment_charge_saved_card(
    *, parcel: Parcel, shipper: User, customer: str, payment_method: str
) -> tuple[Payment, dict[str, Any]]:
    """Charge a merchant's saved card off-session for a draft parcel at its price, in the
    caller's transaction: the caller books the returned intent (lifecycle.paying) and a decline
    (PaymentFailedError) rolls the parcel back with nothing stored. The key is the parcel's, so
    a retry of the same parcel never charges twice."""
    try:
        intent = gateway.payment_intent_charge_off_session(
            amount=parcel.price_total,
            currency=parcel.currency,
            customer=customer,
            payment_method=payment_method,
            metadata={"parcel_id": str(parcel.pk), "kind": "parcel", "off_session": "true"},
            key=f"parcel-{parcel.pk}-off-session",
        )
    except gateway.StripeError as exc:
        raise PaymentFailedError(
            gettext("The card on file was refused: %(value)s") % {"value": exc.user_message or exc}
        ) from exc
    if intent["status"] != "succeeded":
        if intent["status"] != "canceled":
            try:
                gateway.payment_intent_cancel(intent["id"], key=f"{intent['id']}-cancel")
            except gateway.StripeError:
                log.warning("could not cancel the unpaid intent %s", intent["id"])
        raise PaymentFailedError(
            gettext("The card on file could not be charged without its holder (%(status)s).")
            % {"status": intent["status"]}
        )
    payment = Payment.objects.create(
        parcel=parcel,
        shipper=shipper,
        amount=parcel.price_total,
        platform_fee=parcel.platform_fee,
        courier_share=parcel.courier_share,
        currency=parcel.currency,
        stripe_payment_intent_id=intent["id"],
        client_secret=intent.get("client_secret") or "",
    )
    PaymentEvent.objects.create(
        payment=payment, to_status=payment.status, note="Saved card charged off-session"
    )
    return payment, intent


def payment_sync(*, payment_intent_id: str) -> Payment | None:
    """Re-read a parcel's PaymentIntent from Stripe and move the payment forward (never back).
    The payment only: opening the paid parcel is `lifecycle.paying.payment_sync`'s."""
    payment = Payment.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if payment is None:
        return None
    return payment_apply_intent(
        payment=payment, intent=gateway.payment_intent_retrieve(payment_intent_id)
    )


def payment_apply_intent(*, payment: Payment, intent: dict[str, Any]) -> Payment:
    """Move the payment to where its intent is: paid (booked in the ledger), failed, cancelled,
    or waiting for the card. Never back: an old event changes nothing."""
    status = intent["status"]
    if status == "succeeded":
        return payment_record_paid(payment_id=payment.pk, charge_id=intent_charge_id(intent))
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.status not in LIVE:
            return payment  # already further along: an old event changes nothing
        if status == "canceled":
            return payment_move(payment, P.CANCELED, "Cancelled at Stripe")
        error = intent.get("last_payment_error") or {}
        if status == "requires_payment_method" and error:
            payment.failure_message = str(error.get("message", ""))[:300]
            return payment_move(payment, P.FAILED, payment.failure_message)
        if status in ("requires_payment_method", "requires_confirmation", "requires_action"):
            return payment_move(payment, P.REQUIRES_PAYMENT, "Waiting for the card")
    return payment


@transaction.atomic
def payment_record_paid(*, payment_id: int, charge_id: str) -> Payment:
    """The intent succeeded: the payment is paid and the money is in escrow (ledger). Locks the
    parcel first (the lock order), so the caller may open it in the same transaction."""
    parcel_id = Payment.objects.values_list("parcel_id", flat=True).get(pk=payment_id)
    parcel = Parcel.objects.select_for_update().get(pk=parcel_id)
    payment = payment_lock(payment_id)
    if payment.status not in LIVE:
        return payment
    payment.stripe_charge_id = charge_id
    payment_move(payment, P.SUCCEEDED, f"Paid: charge {charge_id}")
    ledger.post(
        kind="payment",
        source=f"charge:{charge_id}",
        payment=payment,
        entries=[(A.STRIPE_BALANCE, payment.amount, None), (A.ESCROW, -payment.amount, None)],
        memo=f"Parcel {parcel.pk} paid",
    )
    return payment


def _not_cancellable(payment: Payment) -> ConflictError:
    return ConflictError(
        gettext("A %(status)s payment cannot be cancelled; refund it instead.")
        % {"status": payment.status},
        code="not_cancellable",
    )


def payment_cancel(*, payment: Payment, note: str = "") -> Payment:
    """Cancel a PaymentIntent that has not been paid. Stripe is asked first: the shipper's
    browser may have confirmed the intent a moment ago, and then Stripe refuses and the payment
    is recorded as paid (`payment_sync`; a paid payment of a cancelled parcel is refunded),
    instead of being marked cancelled while the money sits at Stripe. If Stripe cannot be
    asked, nothing changes here and the caller's task retries. Returns the payment, which is
    not cancelled if it turned out paid (or still processing)."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status not in LIVE:
        raise _not_cancellable(payment)
    intent_id = payment.stripe_payment_intent_id
    try:
        gateway.payment_intent_cancel(intent_id, key=f"{intent_id}-cancel")
    except gateway.StripeError as exc:
        status = gateway.payment_intent_retrieve(intent_id)["status"]
        log.info("cancel of %s refused (%s): %s", intent_id, status, exc)
        if status in ("succeeded", "processing"):
            payment_sync(payment_intent_id=intent_id)
            return Payment.objects.get(pk=payment.pk)
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.status in LIVE:
            payment_move(payment, P.CANCELED, note or "Cancelled")
    return payment


# --- releasing ----------------------------------------------------------------------------------
@transaction.atomic
def escrow_release(*, delivery_id: int) -> Transfer | None:
    """On confirmed delivery: the platform fee is earned and the courier's share becomes
    payable; a Transfer is queued (sent once the hold period is over and payouts are enabled)."""

    delivery = Delivery.objects.select_related("parcel").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ConflictError(
            gettext("Money is released only for a delivered parcel."), code="not_delivered"
        )
    payment = payment_held(delivery.parcel_id)
    if payment is None:
        return None
    payment = payment_lock(payment.pk)
    if payment.status == P.DISPUTED:
        return None  # frozen: an admin decides
    if payment.status not in (P.SUCCEEDED, P.RELEASED):
        raise ConflictError(
            gettext("A %(status)s payment cannot be released.") % {"status": payment.status},
            code="not_releasable",
        )
    ledger.post(
        kind="earned",
        source=f"delivery:{delivery.pk}:earned",
        payment=payment,
        entries=[
            (A.ESCROW, payment.amount, None),
            (A.PLATFORM_REVENUE, -payment.platform_fee, None),
            (A.COURIER_PAYABLE, -payment.courier_share, delivery.courier_id),
        ],
        memo=f"Delivery {delivery.pk} confirmed",
    )
    payment_move(payment, P.RELEASED, f"Delivery {delivery.pk} confirmed")
    return transfer_queue(
        payment=payment,
        delivery=delivery,
        kind=TransferKind.RELEASE,
        amount=payment.courier_share,
        key=f"delivery-{delivery.pk}-transfer",
    )


@shared_task(name="marketplace.payments.tasks.release_delivery", **RETRY)
def release_delivery(delivery_id: int) -> None:
    """After delivery (and after a dispute that held it back): see escrow_release."""
    escrow_release(delivery_id=delivery_id)


# --- returns the platform pays for --------------------------------------------------------------
@transaction.atomic
def payment_fund_by_platform(*, parcel: Parcel) -> Payment:
    """A return the platform pays for: the courier's share moves from platform revenue into
    escrow, as a shipper's payment would put it (the caller then opens the parcel to couriers).
    No card and no Stripe call; the release then pays the courier as usual (from the
    platform's balance)."""

    parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
    payment, created = Payment.objects.get_or_create(
        stripe_payment_intent_id=f"platform-parcel-{parcel.pk}",
        defaults={
            "parcel": parcel,
            "shipper": parcel.shipper,
            "status": P.SUCCEEDED,
            "amount": parcel.courier_share,
            "platform_fee": 0,
            "courier_share": parcel.courier_share,
            "currency": parcel.currency,
            "funded_by_platform": True,
        },
    )
    if not created:
        return payment
    PaymentEvent.objects.create(payment=payment, to_status=P.SUCCEEDED, note="Paid by the platform")
    ledger.post(
        kind="platform_funded",
        source=f"payment:{payment.pk}:platform-funded",
        payment=payment,
        entries=[(A.PLATFORM_REVENUE, payment.amount, None), (A.ESCROW, -payment.amount, None)],
        memo=f"Return parcel {parcel.pk} paid by the platform",
    )
    return payment


@transaction.atomic
def platform_funding_undone(payment_id: int) -> Payment:
    """A platform-funded return was cancelled: the share goes back to platform revenue."""
    payment = payment_lock(payment_id)
    if payment.status != P.SUCCEEDED:
        return payment
    ledger.post(
        kind="platform_unfunded",
        source=f"payment:{payment.pk}:platform-unfunded",
        payment=payment,
        entries=[(A.ESCROW, payment.amount, None), (A.PLATFORM_REVENUE, -payment.amount, None)],
        memo="Return cancelled: back to the platform",
    )
    payment.amount_refunded = payment.amount
    payment.save(update_fields=["amount_refunded", "updated_at"])
    return payment_move(payment, P.REFUNDED, "Return cancelled: back to the platform")
