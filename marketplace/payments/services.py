"""Escrow: the shipper pays into the platform balance, the courier's share is transferred on
delivery, cancellations refund, disputes freeze. Every step is a checked transition of the
Payment, a balanced ledger posting keyed by its Stripe object, and Stripe calls with
deterministic idempotency keys made outside our transactions (after commit, in tasks).

Lock order, as everywhere: parcel, then trip, then payment and transfer rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotAllowedError
from marketplace.core.money import format_money
from marketplace.core.state_machine import check_transition
from marketplace.core.transactions import enqueue_on_commit
from marketplace.notifications.services import notify
from marketplace.payments import gateway, ledger
from marketplace.payments.models import (
    BANK_PAYOUT_RANK,
    PAYMENT_TRANSITIONS,
    BankPayout,
    BankPayoutStatus,
    ConnectedAccount,
    Dispute,
    DisputeStatus,
    LedgerAccount,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Refund,
    Tip,
    Transfer,
    TransferKind,
    TransferStatus,
)

log = logging.getLogger(__name__)
P = PaymentStatus
A = LedgerAccount
LIVE = (P.REQUIRES_PAYMENT, P.FAILED)


class PaymentProviderError(ApplicationError):
    code = "payment_provider_error"
    status_code = 502


def _move(payment: Payment, to: str, note: str = "") -> Payment:
    """Change a locked payment's status if the escrow table allows it, with an audit row."""
    if payment.status == to:
        return payment
    check_transition(table=PAYMENT_TRANSITIONS, current=payment.status, target=to, label="payment")
    PaymentEvent.objects.create(
        payment=payment, from_status=payment.status, to_status=to, note=note[:500]
    )
    payment.status = to
    payment.save()
    return payment


def _locked(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def _tasks():  # type: ignore[no-untyped-def]
    from marketplace.payments import tasks

    return tasks


# --- paying -------------------------------------------------------------------------------------
def payment_start(
    *,
    parcel: Any,
    shipper: User,
    payment_method: str | None = None,
    card_token: str | None = None,
) -> Payment:
    """Create (or return) the PaymentIntent for a draft parcel at its quoted price. With a
    `payment_method` (e.g. a saved card, or Stripe's test `pm_card_visa`) it is confirmed at
    once; otherwise the client confirms it with the returned client secret (Stripe.js)."""
    from marketplace.parcels.models import Parcel, ParcelStatus

    parcel = Parcel.objects.get(pk=parcel.pk)
    if parcel.shipper_id != shipper.pk:
        raise NotAllowedError("This is not your parcel.", code="not_owner")
    paid = Payment.objects.filter(parcel=parcel).exclude(status__in=[*LIVE, P.CANCELED])
    if paid.exists():
        raise ConflictError("This parcel is already paid.", code="already_paid")
    if parcel.status != ParcelStatus.DRAFT:
        raise ConflictError(f"A {parcel.status} parcel cannot be paid for.", code="not_payable")
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
            raise ConflictError("This parcel is already paid.", code="already_paid")
    attempt = Payment.objects.filter(parcel=parcel).count() + 1
    intent, payment_method = _intent_create(
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
        _intent_confirm_now(intent["id"])
        payment.refresh_from_db()
    return payment


def _intent_create(
    *,
    shipper: User,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    key: str,
    payment_method: str | None,
    card_token: str | None,
) -> tuple[dict[str, Any], str | None]:
    """A PaymentIntent (for a parcel or a tip). A card tokenised by Stripe.js on our page is
    kept on a customer and pays it. Returns the intent and the payment method to confirm with."""
    customer = None
    try:
        if card_token:
            data = gateway.customer_create_with_card(
                email=shipper.email, card_token=card_token, key=f"card-{card_token}"
            )
            customer, payment_method = data["id"], data["default_source"]
        intent = gateway.payment_intent_create(
            amount=amount,
            currency=currency,
            metadata=metadata,
            key=key,
            payment_method=payment_method,
            customer=customer,
        )
    except gateway.StripeError as exc:
        raise PaymentProviderError(
            f"The payment provider refused: {exc.user_message or exc}"
        ) from exc
    return intent, payment_method


def _intent_confirm_now(intent_id: str) -> None:
    """Confirm with the attached payment method, then read the outcome (a refusal is read too)."""
    try:
        gateway.payment_intent_confirm(intent_id, key=f"{intent_id}-confirm")
    except gateway.StripeError as exc:
        log.info("confirm of %s refused: %s", intent_id, exc)
    payment_sync(payment_intent_id=intent_id)


def payment_sync(*, payment_intent_id: str) -> Payment | Tip | None:
    """Re-read a PaymentIntent from Stripe and move our side forward (never back). Called by the
    webhook task, after the client's confirmation, and by reconciliation."""
    intent = gateway.payment_intent_retrieve(payment_intent_id)
    tip = Tip.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if tip is not None:
        return _tip_sync(tip, intent)
    payment = Payment.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if payment is None:
        return None
    status = intent["status"]
    if status == "succeeded":
        return _payment_succeeded(payment.pk, _charge_id(intent))
    with transaction.atomic():
        payment = _locked(payment.pk)
        if payment.status not in LIVE:
            return payment  # already further along: an old event changes nothing
        if status == "canceled":
            return _move(payment, P.CANCELED, "Cancelled at Stripe")
        error = intent.get("last_payment_error") or {}
        if status == "requires_payment_method" and error:
            payment.failure_message = str(error.get("message", ""))[:300]
            return _move(payment, P.FAILED, payment.failure_message)
        if status in ("requires_payment_method", "requires_confirmation", "requires_action"):
            return _move(payment, P.REQUIRES_PAYMENT, "Waiting for the card")
    return payment


def _charge_id(intent: dict[str, Any]) -> str:
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        return str(charge["id"])
    if charge:
        return str(charge)
    charges = (intent.get("charges") or {}).get("data") or []
    return str(charges[-1]["id"]) if charges else ""


@transaction.atomic
def _payment_succeeded(payment_id: int, charge_id: str) -> Payment:
    from marketplace.parcels.models import Parcel, ParcelStatus
    from marketplace.parcels.services import parcel_open_paid

    parcel_id = Payment.objects.values_list("parcel_id", flat=True).get(pk=payment_id)
    parcel = Parcel.objects.select_for_update().get(pk=parcel_id)
    payment = _locked(payment_id)
    if payment.status not in LIVE:
        return payment
    payment.stripe_charge_id = charge_id
    _move(payment, P.SUCCEEDED, f"Paid: charge {charge_id}")
    ledger.post(
        kind="payment",
        source=f"charge:{charge_id}",
        payment=payment,
        entries=[(A.STRIPE_BALANCE, payment.amount, None), (A.ESCROW, -payment.amount, None)],
        memo=f"Parcel {parcel.pk} paid",
    )
    if parcel.status == ParcelStatus.DRAFT:
        parcel_open_paid(parcel=parcel)
    elif parcel.status in (ParcelStatus.CANCELLED, ParcelStatus.EXPIRED):
        # Paid after the shipper gave up (a late card confirmation): give it back.
        enqueue_on_commit(_tasks().refund_cancelled_parcel, parcel.pk)
    return payment


def _not_cancellable(payment: Payment) -> ConflictError:
    return ConflictError(
        f"A {payment.status} payment cannot be cancelled; refund it instead.",
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
        payment = _locked(payment.pk)
        if payment.status in LIVE:
            _move(payment, P.CANCELED, note or "Cancelled")
    return payment


# --- releasing ------------------------------------------------------------------------------------
def _payment_of(parcel_id: int) -> Payment | None:
    return (
        Payment.objects.filter(parcel_id=parcel_id).exclude(status__in=[*LIVE, P.CANCELED]).first()
    )


@transaction.atomic
def escrow_release(*, delivery_id: int) -> Transfer | None:
    """On confirmed delivery: the platform fee is earned and the courier's share becomes
    payable; a Transfer is queued (sent once the hold period is over and payouts are enabled)."""
    from marketplace.deliveries.models import Delivery, DeliveryStatus

    delivery = Delivery.objects.select_related("parcel").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ConflictError("Money is released only for a delivered parcel.", code="not_delivered")
    payment = _payment_of(delivery.parcel_id)
    if payment is None:
        return None
    payment = _locked(payment.pk)
    if payment.status == P.DISPUTED:
        return None  # frozen: an admin decides
    if payment.status not in (P.SUCCEEDED, P.RELEASED):
        raise ConflictError(
            f"A {payment.status} payment cannot be released.", code="not_releasable"
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
    _move(payment, P.RELEASED, f"Delivery {delivery.pk} confirmed")
    return _queue_transfer(
        payment=payment,
        delivery=delivery,
        kind=TransferKind.RELEASE,
        amount=payment.courier_share,
        key=f"delivery-{delivery.pk}-transfer",
    )


def _queue_transfer(
    *, payment: Payment, delivery: Any, kind: str, amount: int, key: str
) -> Transfer:
    transfer, created = Transfer.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "payment": payment,
            "delivery": delivery,
            "courier_id": delivery.courier_id,
            "kind": kind,
            "amount": amount,
            "currency": payment.currency,
            "not_before": timezone.now() + timedelta(days=settings.PAYOUT_HOLD_DAYS),
        },
    )
    if created:
        enqueue_on_commit(_tasks().send_transfer, transfer.pk)
    return transfer


def transfer_send(*, transfer_id: int) -> Transfer:
    """Send a waiting transfer if it is due, the courier can be paid and the money is not
    frozen. The Stripe call carries the transfer's fixed idempotency key, so a retry after a
    timeout returns the same transfer instead of paying twice. The first attempt is committed
    before the call: an attempted transfer is always replayed (even once the money is frozen),
    because Stripe may have made it and only the answer was lost."""
    transfer = Transfer.objects.select_related("payment").get(pk=transfer_id)
    account = ConnectedAccount.objects.filter(courier_id=transfer.courier_id).first()
    if transfer.status != TransferStatus.WAITING or account is None:
        return transfer
    if transfer.attempted_at is None:
        if (
            transfer.not_before > timezone.now()
            or not account.payouts_enabled
            or transfer.payment.status == P.DISPUTED
        ):
            return transfer
        Transfer.objects.filter(pk=transfer.pk, attempted_at__isnull=True).update(
            attempted_at=timezone.now()
        )
    result = gateway.transfer_create(
        amount=transfer.amount,
        currency=transfer.currency,
        destination=account.stripe_account_id,
        # A return the platform funds has no charge: the transfer comes from the balance.
        source_transaction=transfer.payment.stripe_charge_id or None,
        transfer_group=f"delivery-{transfer.delivery_id}",
        metadata={"delivery_id": str(transfer.delivery_id), "kind": transfer.kind},
        key=transfer.idempotency_key,
    )
    return _transfer_paid(transfer.pk, result["id"])


@transaction.atomic
def _transfer_paid(transfer_id: int, stripe_transfer_id: str) -> Transfer:
    transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
    if transfer.status != TransferStatus.WAITING:
        return transfer
    transfer.status = TransferStatus.PAID
    transfer.stripe_transfer_id = stripe_transfer_id
    transfer.save()
    ledger.post(
        kind="transfer",
        source=f"transfer:{stripe_transfer_id}",
        payment=transfer.payment,
        entries=[
            (A.COURIER_PAYABLE, transfer.amount, transfer.courier_id),
            (A.STRIPE_BALANCE, -transfer.amount, None),
        ],
        memo=f"{transfer.kind} to courier {transfer.courier_id}",
    )
    return transfer


# --- cancelling and refunding ---------------------------------------------------------------------
def escrow_refund_cancelled(*, parcel_id: int) -> Payment | None:
    """The parcel was cancelled: cancel an unpaid intent, or refund the payment minus the
    cancellation fee the delivery recorded (which goes to the courier)."""
    from marketplace.deliveries.models import Delivery

    # Every unpaid attempt is cancelled; a declined one must not hide the attempt that paid.
    cancelled = [
        payment_cancel(payment=live, note="Parcel cancelled")
        for live in Payment.objects.filter(parcel_id=parcel_id, status__in=LIVE).order_by("pk")
    ]
    payment = _payment_of(parcel_id)
    if payment is None:
        return cancelled[-1] if cancelled else None
    if payment.status != P.SUCCEEDED:
        return payment
    if payment.funded_by_platform:
        return _platform_funding_undone(payment.pk)
    delivery = (
        Delivery.objects.filter(parcel_id=parcel_id, cancellation_fee__gt=0)
        .order_by("-created_at")
        .first()
    )
    fee = min(delivery.cancellation_fee, payment.amount) if delivery else 0
    if fee:
        with transaction.atomic():
            locked = _locked(payment.pk)
            ledger.post(
                kind="cancellation_fee",
                source=f"delivery:{delivery.pk}:cancellation-fee",
                payment=locked,
                entries=[(A.ESCROW, fee, None), (A.COURIER_PAYABLE, -fee, delivery.courier_id)],
                memo="Cancelled after the courier set off",
            )
            _queue_transfer(
                payment=locked,
                delivery=delivery,
                kind=TransferKind.CANCELLATION_FEE,
                amount=fee,
                key=f"delivery-{delivery.pk}-cancellation-fee",
            )
            if fee == payment.amount:  # the fee takes it all: nothing to refund
                return _move(locked, P.PARTIALLY_REFUNDED, "Cancelled: all of it is the fee")
    return escrow_refund(
        payment_id=payment.pk,
        amount=payment.amount - fee,
        reason="Parcel cancelled" + (" (minus the cancellation fee)" if fee else ""),
        key=f"parcel-{parcel_id}-refund-cancelled",
        final_status=P.PARTIALLY_REFUNDED if fee else P.REFUNDED,
    )


@transaction.atomic
def payment_fund_by_platform(*, parcel: Any) -> Payment:
    """A return the platform pays for: the courier's share moves from platform revenue into
    escrow and the parcel opens to couriers, as a shipper's payment would open it. No card and
    no Stripe call; the release then pays the courier as usual (from the platform's balance)."""
    from marketplace.parcels.models import Parcel
    from marketplace.parcels.services import parcel_open_paid

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
    parcel_open_paid(parcel=parcel)
    return payment


@transaction.atomic
def _platform_funding_undone(payment_id: int) -> Payment:
    """A platform-funded return was cancelled: the share goes back to platform revenue."""
    payment = _locked(payment_id)
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
    return _move(payment, P.REFUNDED, "Return cancelled: back to the platform")


def escrow_refund_returned(*, parcel_id: int) -> Payment | None:
    """The parcel came back to its sender. A failed delivery's money is still held: refunded in
    full. A delivered parcel's was released: the platform's fee is refunded out of platform
    revenue (the courier earned the share). Frozen or already refunded money is left alone."""
    payment = _payment_of(parcel_id)
    if payment is None:
        return None
    if payment.status == P.SUCCEEDED:
        return escrow_refund(
            payment_id=payment.pk,
            amount=payment.amount - payment.amount_refunded,
            reason="Returned to the sender after a failed delivery",
            key=f"parcel-{parcel_id}-refund-returned",
            final_status=P.REFUNDED,
        )
    if payment.status != P.RELEASED or not payment.platform_fee:
        return payment
    key = f"parcel-{parcel_id}-refund-fee-returned"
    refund = Refund.objects.filter(idempotency_key=key).first()
    if refund is None:
        with transaction.atomic():
            payment = _locked(payment.pk)
            if payment.amount_refunded + payment.platform_fee > payment.amount:
                raise ConflictError("That is more than is left to refund.", code="refund_too_large")
            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        payment=payment,
                        amount=payment.platform_fee,
                        reason="Returned to the sender: the platform's fee back",
                        idempotency_key=key,
                        from_revenue=True,
                    )
            except IntegrityError:  # asked twice at once: one row
                refund = Refund.objects.get(idempotency_key=key)
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return _refund_posted(refund, P.RELEASED)


def escrow_refund(
    *, payment_id: int, amount: int, reason: str, key: str, final_status: str | None = None
) -> Payment:
    """Refund part or all of a held payment. Refuses what localstripe would wrongly allow:
    more than was paid, or a payment that was never captured."""
    payment = Payment.objects.get(pk=payment_id)
    if amount <= 0:
        raise ApplicationError("A refund must be positive.", code="invalid_amount")
    refund = Refund.objects.filter(idempotency_key=key).first()
    if refund is None:
        with transaction.atomic():
            payment = _locked(payment_id)
            if payment.status not in (P.SUCCEEDED, P.DISPUTED, P.PARTIALLY_REFUNDED):
                raise ConflictError(
                    f"A {payment.status} payment cannot be refunded.", code="not_refundable"
                )
            if payment.amount_refunded + amount > payment.amount:
                raise ConflictError("That is more than is left to refund.", code="refund_too_large")
            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        payment=payment, amount=amount, reason=reason[:200], idempotency_key=key
                    )
            except IntegrityError:  # the same refund asked at the same moment: one row
                refund = Refund.objects.get(idempotency_key=key)
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return _refund_posted(refund, final_status)


def _refund_at_stripe(refund: Refund, *, charge_id: str) -> Refund:
    """Make the refund at Stripe once, and note its id. A retry first looks for the refund
    tagged with our key among the charge's refunds: the first attempt may have reached Stripe
    and lost its answer, and (beyond Stripe's own idempotency window, or at localstripe, which
    ignores Idempotency-Key) asking again would refund twice. The amount is the recorded one,
    whatever a retry passes. The refund's row is locked meanwhile, so concurrent callers wait and
    then find the id."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if not refund.stripe_refund_id:
            refund.stripe_refund_id = _refund_made_at_stripe(refund, charge_id)["id"]
            refund.save(update_fields=["stripe_refund_id", "updated_at"])
    return refund


def _refund_made_at_stripe(refund: Refund, charge_id: str) -> dict[str, Any]:
    made = next(
        (
            item
            for item in gateway.refunds_of_charge(charge_id)
            if (item.get("metadata") or {}).get("waypost_refund") == refund.idempotency_key
        ),
        None,
    )
    if made is None:
        made = gateway.refund_create(
            charge_id=charge_id,
            amount=refund.amount,
            key=refund.idempotency_key,
            metadata={"waypost_refund": refund.idempotency_key},
        )
    return made


@transaction.atomic
def _refund_posted(refund: Refund, final_status: str | None) -> Payment:
    payment = _locked(refund.payment_id)
    paid_from = A.PLATFORM_REVENUE if refund.from_revenue else A.ESCROW
    posted = ledger.post(
        kind="refund",
        source=f"refund:{refund.stripe_refund_id}",
        payment=payment,
        entries=[(paid_from, refund.amount, None), (A.STRIPE_BALANCE, -refund.amount, None)],
        memo=refund.reason,
    )
    if posted is not None:
        payment.amount_refunded += refund.amount
        payment.save(update_fields=["amount_refunded", "updated_at"])
    if final_status is None:
        final_status = P.REFUNDED if payment.amount_refunded == payment.amount else payment.status
    if payment.status != final_status and final_status in PAYMENT_TRANSITIONS[payment.status]:
        _move(payment, final_status, refund.reason)
    return payment


def escrow_refund_after_release(*, payment_id: int, reason: str) -> Payment:
    """Give a released payment back: reverse the courier's transfer (or cancel it if not yet
    sent), un-earn the fee and share, and refund the shipper in full. A released payment frozen
    by a dispute can be given back too (the admin's refund): it stays frozen until done, so a
    failure leaves it to be decided again and its waiting transfer never goes out meanwhile."""
    payment = Payment.objects.get(pk=payment_id)
    frozen = payment.status == P.DISPUTED and payment.status_before_dispute == P.RELEASED
    if payment.status != P.RELEASED and not frozen:
        raise ConflictError("Only a released payment is reversed.", code="not_released")
    for transfer in payment.transfers.filter(kind=TransferKind.RELEASE):
        _transfer_reverse(transfer.pk)
    with transaction.atomic():
        payment = _locked(payment_id)
        release = payment.transfers.get(kind=TransferKind.RELEASE)
        ledger.post(
            kind="unearned",
            source=f"payment:{payment.pk}:unearned",
            payment=payment,
            entries=[
                (A.PLATFORM_REVENUE, payment.platform_fee, None),
                (A.COURIER_PAYABLE, payment.courier_share, release.courier_id),
                (A.ESCROW, -payment.amount, None),
            ],
            memo=reason,
        )
    refund = Refund.objects.filter(idempotency_key=f"payment-{payment.pk}-refund-reversed").first()
    if refund is None:
        refund = Refund.objects.create(
            payment=payment,
            amount=payment.amount - payment.amount_refunded,
            reason=reason[:200],
            idempotency_key=f"payment-{payment.pk}-refund-reversed",
        )
    refund = _refund_at_stripe(refund, charge_id=payment.stripe_charge_id)
    return _refund_posted(refund, P.REVERSED)


def _transfer_reverse(transfer_id: int) -> Transfer:
    transfer = Transfer.objects.get(pk=transfer_id)
    if transfer.status == TransferStatus.WAITING:
        # An earlier send may have reached Stripe with its answer lost: replaying it (same
        # idempotency key) returns that transfer, which is then reversed, not forgotten.
        transfer = transfer_send(transfer_id=transfer.pk)
    if transfer.status == TransferStatus.REVERSED:
        return transfer
    if transfer.status == TransferStatus.WAITING:
        Transfer.objects.filter(pk=transfer.pk, status=TransferStatus.WAITING).update(
            status=TransferStatus.REVERSED
        )
        return Transfer.objects.get(pk=transfer.pk)
    reversal = gateway.transfer_reversal_create(
        transfer_id=transfer.stripe_transfer_id,
        amount=transfer.amount,
        key=f"transfer-{transfer.pk}-reversal",
    )
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        ledger.post(
            kind="reversal",
            source=f"reversal:{reversal['id']}",
            payment=transfer.payment,
            entries=[
                (A.STRIPE_BALANCE, transfer.amount, None),
                (A.COURIER_PAYABLE, -transfer.amount, transfer.courier_id),
            ],
            memo=f"Transfer {transfer.stripe_transfer_id} reversed",
        )
        transfer.status = TransferStatus.REVERSED
        transfer.amount_reversed = transfer.amount
        transfer.save()
    return transfer


# --- disputes -------------------------------------------------------------------------------------
def dispute_sync(*, dispute_id: str) -> Dispute | None:
    """Re-read a dispute from Stripe. Opening freezes the payment's money; closing posts the
    outcome. Replays and out-of-order events change nothing more."""
    data = gateway.dispute_retrieve(dispute_id)
    charge_id = data["charge"] if isinstance(data["charge"], str) else data["charge"]["id"]
    payment = Payment.objects.filter(stripe_charge_id=charge_id).first()
    if payment is None:
        log.warning("dispute %s for unknown charge %s", dispute_id, charge_id)
        return None
    with transaction.atomic():
        payment = _locked(payment.pk)
        dispute, first_seen = Dispute.objects.get_or_create(
            stripe_dispute_id=dispute_id,
            defaults={
                "payment": payment,
                "amount": data["amount"],
                "reason": data.get("reason", ""),
            },
        )
        ledger.post(
            kind="dispute_opened",
            source=f"dispute:{dispute_id}:opened",
            payment=payment,
            entries=[(A.DISPUTES, dispute.amount, None), (A.STRIPE_BALANCE, -dispute.amount, None)],
            memo=f"Dispute {dispute_id}: {dispute.reason}",
        )
        # Freeze when the dispute is first heard of (whichever event brings it): a replayed or
        # later event about it must not freeze again what an admin has since unfrozen.
        if (
            first_seen
            and dispute.status == DisputeStatus.OPEN
            and P.DISPUTED in PAYMENT_TRANSITIONS[payment.status]
        ):
            payment.status_before_dispute = payment.status
            _move(payment, P.DISPUTED, f"Dispute {dispute_id} opened: money frozen")
        outcome = data["status"]
        if outcome == "won" and dispute.status == DisputeStatus.OPEN:
            ledger.post(
                kind="dispute_won",
                source=f"dispute:{dispute_id}:won",
                payment=payment,
                entries=[
                    (A.STRIPE_BALANCE, dispute.amount, None),
                    (A.DISPUTES, -dispute.amount, None),
                ],
            )
            dispute.status = DisputeStatus.WON
            dispute.save()
            _unfreeze(payment, f"Dispute {dispute_id} won")
            _resume_on_commit(payment)
        elif outcome == "lost" and dispute.status == DisputeStatus.OPEN:
            # The escrow gives up what it still holds for this payment (nothing once released,
            # refunded or paid out as a cancellation fee); the rest is the platform's loss.
            held = -ledger.balances(transaction__payment=payment).get(A.ESCROW, 0)
            from_escrow = min(dispute.amount, max(held, 0))
            ledger.post(
                kind="dispute_lost",
                source=f"dispute:{dispute_id}:lost",
                payment=payment,
                entries=[
                    (A.ESCROW, from_escrow, None),
                    (A.DISPUTE_LOSSES, dispute.amount - from_escrow, None),
                    (A.DISPUTES, -dispute.amount, None),
                ],
            )
            dispute.status = DisputeStatus.LOST
            dispute.save()
            if payment.status == P.DISPUTED:
                _move(payment, P.DISPUTE_LOST, f"Dispute {dispute_id} lost")
    return dispute


def _unfreeze(payment: Payment, note: str) -> None:
    if payment.status == P.DISPUTED:
        back = payment.status_before_dispute or P.SUCCEEDED
        _move(payment, back if back in PAYMENT_TRANSITIONS[P.DISPUTED] else P.SUCCEEDED, note)
        for transfer in payment.transfers.filter(status=TransferStatus.WAITING):
            enqueue_on_commit(_tasks().send_transfer, transfer.pk)


def _resume_on_commit(payment: Payment) -> None:
    """After a freeze: do what it held back, the release of a parcel delivered meanwhile or
    the refund of one cancelled meanwhile (both skip a frozen payment)."""
    from marketplace.deliveries.models import Delivery, DeliveryStatus
    from marketplace.parcels.models import Parcel, ParcelStatus

    if payment.status != P.SUCCEEDED:
        return
    delivered = Delivery.objects.filter(
        parcel_id=payment.parcel_id, status=DeliveryStatus.DELIVERED
    ).first()
    if delivered is not None:
        enqueue_on_commit(_tasks().release_delivery, delivered.pk)
    elif Parcel.objects.filter(
        pk=payment.parcel_id, status__in=[ParcelStatus.CANCELLED, ParcelStatus.EXPIRED]
    ).exists():
        enqueue_on_commit(_tasks().refund_cancelled_parcel, payment.parcel_id)


def dispute_resolve(
    *, dispute: Dispute, admin: User, action: str, amount: int | None = None, note: str = ""
) -> Payment:
    """An admin's decision on a frozen payment: `release` (to the courier, if delivered),
    `refund` (the shipper; in full, reversing the courier's transfer, if the money had been
    released; else in full or `amount`) or `close` (unfreeze, nothing moves: the payment
    carries on where it was, releasing a parcel delivered meanwhile).

    Everything is checked, and a refund made, while the payment is still frozen: a refused or
    failed decision leaves it frozen, to be decided again, and a waiting transfer never goes
    out ahead of a refund."""
    from marketplace.deliveries.models import Delivery, DeliveryStatus

    if action not in ("release", "refund", "close"):
        raise ApplicationError("action must be release, refund or close.")
    payment = Payment.objects.get(pk=dispute.payment_id)
    if payment.status != P.DISPUTED:
        raise ConflictError("This payment is not frozen.", code="not_disputed")
    delivery = Delivery.objects.filter(
        parcel_id=payment.parcel_id, status=DeliveryStatus.DELIVERED
    ).first()
    if action == "release" and delivery is None:
        raise ConflictError(
            "The parcel was not delivered: nothing to release.", code="not_delivered"
        )
    if action == "refund":
        reason = f"Dispute {dispute.stripe_dispute_id} refunded by admin"
        if payment.status_before_dispute == P.RELEASED:
            escrow_refund_after_release(payment_id=payment.pk, reason=reason)
        else:
            left = payment.amount - payment.amount_refunded
            escrow_refund(
                payment_id=payment.pk,
                amount=amount or left,
                reason=reason,
                key=f"dispute-{dispute.pk}-refund-{amount or left}",
            )
    with transaction.atomic():
        payment = _locked(payment.pk)
        if action != "refund" and payment.status != P.DISPUTED:
            raise ConflictError("This payment is not frozen.", code="not_disputed")
        Dispute.objects.filter(pk=dispute.pk).update(
            resolution=f"{action}: {note}"[:300], resolved_by=admin
        )
        if payment.status == P.DISPUTED:  # a partial refund leaves it frozen until now
            _unfreeze(payment, f"Admin {admin.email}: {action}. {note}")
            if action != "release":
                _resume_on_commit(payment)
    if action == "release" and delivery is not None:
        escrow_release(delivery_id=delivery.pk)
    return Payment.objects.get(pk=payment.pk)


# --- tips -----------------------------------------------------------------------------------------
def tip_start(
    *,
    delivery: Any,
    shipper: User,
    amount: int,
    payment_method: str | None = None,
    card_token: str | None = None,
) -> Tip:
    """A tip after delivery: its own PaymentIntent; all of it goes to the courier. Paid like
    the parcel (`payment_start`): a saved `payment_method`, a Stripe.js `card_token`, or
    neither (the client confirms with the client secret)."""
    from marketplace.deliveries.models import DeliveryStatus

    if delivery.parcel.shipper_id != shipper.pk:
        raise NotAllowedError("This is not your parcel.", code="not_owner")
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ConflictError("Tips open once the parcel is delivered.", code="not_delivered")
    if not 1 <= amount <= 100_000:
        raise ApplicationError(
            "A tip must be between 1 and 100 000 minor units.", fields={"amount": ["Out of range."]}
        )
    if _payment_of(delivery.parcel_id) is None:
        # _tip_sync books a tip against the parcel's payment: refuse before charging the card.
        raise ConflictError("Only a parcel paid on Waypost can take a tip.", code="not_paid")
    attempt = Tip.objects.filter(delivery=delivery).count() + 1
    intent, payment_method = _intent_create(
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
        _intent_confirm_now(intent["id"])
        tip.refresh_from_db()
    return tip


@transaction.atomic
def _tip_sync(tip: Tip, intent: dict[str, Any]) -> Tip:
    tip = Tip.objects.select_for_update().get(pk=tip.pk)
    if tip.succeeded or intent["status"] != "succeeded":
        return tip
    payment = _payment_of(tip.delivery.parcel_id)
    if payment is None:
        raise ConflictError("A tip needs the parcel's payment to be recorded.")
    tip.succeeded = True
    tip.stripe_charge_id = _charge_id(intent)
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
    _queue_transfer(
        payment=payment,
        delivery=tip.delivery,
        kind=TransferKind.TIP,
        amount=tip.amount,
        key=f"tip-{tip.pk}-transfer",
    )
    return tip


# --- couriers' connected accounts ---------------------------------------------------------------
def connect_onboarding_link(*, courier: User) -> str:
    """The courier's Express account (created once) and a fresh Stripe-hosted onboarding link."""
    if not courier.is_courier:
        raise NotAllowedError("Only couriers get paid out.", code="not_a_courier")
    account = ConnectedAccount.objects.filter(courier=courier).first()
    base = settings.SITE_URL.rstrip("/")
    try:
        if account is None:
            data = gateway.account_create(
                email=courier.email, country=None, key=f"courier-{courier.pk}-account"
            )
            account, _ = ConnectedAccount.objects.get_or_create(
                courier=courier, defaults={"stripe_account_id": data["id"]}
            )
        link = gateway.account_link_create(
            account_id=account.stripe_account_id,
            refresh_url=f"{base}/payouts/onboarding/",
            return_url=f"{base}/payouts/",
        )
    except gateway.StripeError as exc:
        log.warning("onboarding link for courier %s: %s", courier.pk, exc)
        raise PaymentProviderError(
            "We could not reach Stripe to set up your payouts. Try again in a minute.",
            code="payment_provider_unavailable",
        ) from exc
    return str(link["url"])


def account_sync(*, account_id: str) -> ConnectedAccount | None:
    """`account.updated`: keep payouts_enabled and the outstanding requirements current, and
    send what was waiting for them."""
    account = ConnectedAccount.objects.filter(stripe_account_id=account_id).first()
    if account is None:
        return None
    data = gateway.account_retrieve(account_id)
    requirements = (data.get("requirements") or {}).get("currently_due") or []
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().get(pk=account.pk)
        was_enabled = account.payouts_enabled
        account.payouts_enabled = bool(data.get("payouts_enabled"))
        account.charges_enabled = bool(data.get("charges_enabled"))
        account.details_submitted = bool(data.get("details_submitted"))
        account.requirements_due = list(requirements)
        account.save()
        if account.payouts_enabled and not was_enabled:
            for pk in Transfer.objects.filter(
                courier_id=account.courier_id, status=TransferStatus.WAITING
            ).values_list("pk", flat=True):
                enqueue_on_commit(_tasks().send_transfer, pk)
    return account


def bank_payout_sync(*, payout_id: str, account_id: str | None) -> BankPayout | None:
    """`payout.*` (Connect): a courier's payout to their bank, re-read from their account. Its
    status only moves forward, so duplicated and reordered events change nothing; the courier
    is told when the money reached the bank, or why it did not. Payouts of accounts we do not
    know (and the platform's own, which come without an account) are ignored."""
    account = ConnectedAccount.objects.filter(stripe_account_id=account_id or "").first()
    if account is None or not payout_id:
        return None
    data = gateway.payout_retrieve(payout_id, account=account.stripe_account_id)
    status = str(data.get("status") or "")
    if status not in BankPayoutStatus.values:
        log.warning("payout %s has an unknown status %r; ignored", payout_id, status)
        return None
    arrival = data.get("arrival_date")
    fields = {
        "amount": int(data["amount"]),
        "currency": str(data["currency"]).upper(),
        "status": status,
        "arrival_date": datetime.fromtimestamp(arrival, tz=UTC) if arrival else None,
        "failure_code": str(data.get("failure_code") or ""),
        "failure_message": str(data.get("failure_message") or "")[:500],
    }
    with transaction.atomic():
        payout, created = BankPayout.objects.select_for_update().get_or_create(
            stripe_payout_id=payout_id, defaults={"account": account, **fields}
        )
        if not created:
            if BANK_PAYOUT_RANK[BankPayoutStatus(status)] <= BANK_PAYOUT_RANK[payout.status]:
                return payout
            for name, value in fields.items():
                setattr(payout, name, value)
            payout.save()
        _bank_payout_notify(payout, courier=account.courier)
    return payout


def _bank_payout_notify(payout: BankPayout, *, courier: User) -> None:
    amount = format_money(payout.amount, payout.currency)
    data = {"payout": payout.stripe_payout_id, "status": payout.status}
    if payout.status == BankPayoutStatus.PAID:
        notify(
            user=courier,
            kind="payout_paid",
            title=f"{amount} paid into your bank account",
            data=data,
        )
    elif payout.status == BankPayoutStatus.FAILED:
        reason = payout.failure_message or "Your bank did not accept it."
        notify(
            user=courier,
            kind="payout_failed",
            title=f"Your payout of {amount} failed",
            body=f"{reason} Check your bank details on the Payouts page; "
            "Stripe tries again once they are fixed.",
            data=data,
        )


def charge_refunds_sync(*, charge_id: str) -> Payment | None:
    """`charge.refunded`: record refunds made outside Waypost (e.g. in Stripe's dashboard), and
    ours whose answer from Stripe has not been recorded yet (tagged with our key)."""
    payment = Payment.objects.filter(stripe_charge_id=charge_id).first()
    if payment is None:
        return None
    for item in gateway.refunds_of_charge(charge_id):
        if Refund.objects.filter(stripe_refund_id=item["id"]).exists():
            continue
        key = (item.get("metadata") or {}).get("waypost_refund") or ""
        refund = Refund.objects.filter(payment=payment, idempotency_key=key).first()
        if refund is not None and not refund.stripe_refund_id:
            Refund.objects.filter(pk=refund.pk).update(stripe_refund_id=item["id"])
            refund.stripe_refund_id = item["id"]
        else:
            refund = Refund.objects.create(
                payment=payment,
                amount=item["amount"],
                reason="Refunded at Stripe",
                idempotency_key=f"external-{item['id']}",
                stripe_refund_id=item["id"],
            )
        payment = _refund_posted(refund, None)
    return payment
