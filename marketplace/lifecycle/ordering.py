"""Ordering: a merchant's system creates and cancels deliveries (one, or a batch of rows), and
keeps a card on file for them.

Billing, per delivery: a test key's delivery is never charged and opens at once (the sandbox
takes it from there); in card mode with PAYMENTS_REQUIRED the saved card is charged off-session
into the escrow in the same transaction, and a missing or declined card refuses the delivery
with nothing stored; in invoice mode it opens without a payment.

Lock order: the held quote and the parcel (created here), then the payment.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError, ConflictError, NotFoundError
from marketplace.lifecycle import cancelling, paying, posting, sandbox
from marketplace.merchants import services as merchants
from marketplace.merchants.models import BulkUpload, Merchant
from marketplace.parcels import selectors as parcel_selectors
from marketplace.parcels.delivery_input import DeliveryInputSerializer, flat_errors
from marketplace.parcels.models import Parcel
from marketplace.payments import escrow, gateway

log = logging.getLogger(__name__)
# Rows of a web upload created per transaction batch (progress is saved after each batch).
UPLOAD_BATCH = 25


class NoCardOnFileError(ApplicationError):
    code = "no_card_on_file"
    status_code = 402


def _owner(merchant: Merchant) -> User:
    owner = merchants.merchant_owner_user(merchant)
    if owner is None:
        raise ConflictError(gettext("This merchant has no owner."), code="no_owner")
    return owner


def _taken(merchant: Merchant, external_reference: str) -> ConflictError | None:
    existing = parcel_selectors.parcel_by_external_reference(
        merchant=merchant, external_reference=external_reference
    )
    if existing is None:
        return None
    return ConflictError(
        gettext("A delivery with external_reference %(external_reference)s exists already.")
        % {"external_reference": repr(external_reference)},
        code="external_reference_taken",
        extra={"id": existing.pk},
    )


@transaction.atomic
def merchant_delivery_create(
    *,
    merchant: Merchant,
    is_test: bool,
    pickup_location_id: int | None = None,
    external_reference: str = "",
    quote_id: Any = None,
    sandbox_outcome: str = "",
    **fields: Any,
) -> Parcel:
    """Create a merchant's delivery (posted as its owner) and open it, charged per the
    merchant's billing (see the module). Refusals raise ApplicationError with nothing stored."""
    owner = _owner(merchant)
    if sandbox_outcome and not is_test:
        raise ApplicationError(
            gettext("sandbox_outcome is for test keys only."),
            fields={
                "sandbox_outcome": [
                    gettext("Only deliveries made with a test key have an outcome.")
                ]
            },
        )
    if pickup_location_id is not None:
        try:
            location = merchants.pickup_location_get(
                merchant=merchant, location_id=pickup_location_id
            )
        except NotFoundError as exc:
            raise ApplicationError(
                gettext("No such pickup location."),
                fields={"pickup_location_id": [gettext("No such pickup location of yours.")]},
            ) from exc
        fields.setdefault("pickup_point", location.point)
        fields.setdefault("pickup_address", location.address)
        fields.setdefault("pickup_contact_name", location.contact_name)
        fields.setdefault("pickup_contact_phone", location.contact_phone)
    if external_reference and (taken := _taken(merchant, external_reference)):
        raise taken
    # A merchant declares once, in the merchant terms, that it sends no prohibited item; a row
    # may still say `prohibited_items_declared: false`, which is refused.
    fields.setdefault("prohibited_items_declared", True)
    charge = merchant.payments_required and not is_test
    if charge and not (merchant.stripe_customer_id and merchant.stripe_payment_method_id):
        raise NoCardOnFileError(
            gettext("Card billing needs a card on file: save one on the merchant page."),
        )
    try:
        with transaction.atomic():
            parcel = posting.parcel_create(
                shipper=owner,
                paid_first=charge,
                merchant=merchant,
                external_reference=external_reference,
                is_test=is_test,
                sandbox_outcome=sandbox_outcome,
                quote_id=quote_id,
                **fields,
            )
    except IntegrityError:
        # Another request took the reference between our check and the insert.
        if external_reference and (taken := _taken(merchant, external_reference)):
            raise taken from None
        raise
    if is_test:
        sandbox.sandbox_start(parcel)
    if charge:
        _, intent = escrow.payment_charge_saved_card(
            parcel=parcel,
            shipper=owner,
            customer=merchant.stripe_customer_id,
            payment_method=merchant.stripe_payment_method_id,
        )
        paying.payment_intent_apply(intent=intent)  # booked in escrow; the parcel opens
        parcel.refresh_from_db()
    return parcel


@transaction.atomic
def merchant_delivery_cancel(
    *, merchant: Merchant, is_test: bool, parcel_id: Any, reason: str = ""
) -> Parcel:
    """Cancel one of the merchant's deliveries (of the key's mode) before pickup; the money
    goes back after commit as for any shipper."""
    parcel = parcel_selectors.parcel_of_merchant(merchant=merchant, is_test=is_test, pk=parcel_id)
    if parcel is None:
        raise NotFoundError(gettext("No such delivery."), code="not_found")
    return cancelling.parcel_cancel(parcel=parcel, actor=parcel.shipper, reason=reason)


def merchant_delivery_rows_create(
    *, merchant: Merchant, is_test: bool, rows: list[Any], first_row: int = 1
) -> list[dict[str, Any]]:
    """Create one delivery per row, each in its own transaction: a bad row is reported with
    its field errors and never blocks the others, and nothing of it is stored. Returns one
    result per row: {row, status: "created", id} or {row, status: "invalid", errors, code}."""
    results = []
    for number, row in enumerate(rows, start=first_row):
        results.append(_row_create(merchant=merchant, is_test=is_test, row=row, number=number))
    return results


def _row_create(*, merchant: Merchant, is_test: bool, row: Any, number: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        errors = {"non_field_errors": [gettext("Each row must be a JSON object.")]}
        return {"row": number, "status": "invalid", "code": "invalid", "errors": errors}
    data = DeliveryInputSerializer(data=row)
    if not data.is_valid():
        errors = flat_errors(data.errors)
        return {"row": number, "status": "invalid", "code": "invalid", "errors": errors}
    try:
        parcel = merchant_delivery_create(merchant=merchant, is_test=is_test, **data.validated_data)
    except ApplicationError as exc:
        result: dict[str, Any] = {"row": number, "status": "invalid", "code": exc.code}
        result["errors"] = exc.fields or {"non_field_errors": [exc.message]}
        if exc.extra:
            result["details"] = exc.extra
        return result
    return {"row": number, "status": "created", "id": parcel.pk}


# --- the web site's CSV uploads -----------------------------------------------------------------
def bulk_upload_process(upload_id: int) -> BulkUpload:
    """Create an upload's deliveries in batches of UPLOAD_BATCH rows, saving the progress
    (processed / created / failed / results) after each batch; a rerun resumes where it
    stopped, so the task is safe to retry."""
    upload = merchants.bulk_upload_start(upload_id)
    if upload is None:
        return BulkUpload.objects.get(pk=upload_id)
    while upload.processed < upload.total:
        start = upload.processed
        batch = upload.rows[start : start + UPLOAD_BATCH]
        results = merchant_delivery_rows_create(
            merchant=upload.merchant,
            is_test=upload.mode == "test",
            rows=batch,
            first_row=start + 1,
        )
        upload = merchants.bulk_upload_progress(upload_id=upload.pk, results=results)
    return merchants.bulk_upload_finish(upload.pk)


@shared_task(name="marketplace.lifecycle.tasks.process_bulk_upload", acks_late=True)
def process_bulk_upload(upload_id: int) -> None:
    try:
        bulk_upload_process(upload_id)
    except Exception:
        log.exception("bulk upload %s failed", upload_id)
        merchants.bulk_upload_fail(upload_id, "The upload stopped; it is retried.")
        raise


# --- card on file -------------------------------------------------------------------------------
def merchant_card_save(*, merchant: Merchant, payment_method_id: str) -> Merchant:
    """Keep a card (a Stripe PaymentMethod, e.g. made by Stripe.js; `pm_card_visa` in tests) on
    the merchant's Stripe customer, charged off-session for each live delivery in card mode.
    The Stripe calls come first, outside our transaction; a refused card changes nothing."""
    payment_method_id = payment_method_id.strip()
    if not payment_method_id.startswith("pm_"):
        raise ApplicationError(
            gettext("A Stripe PaymentMethod id starts with pm_."),
            fields={"payment_method_id": [gettext("A Stripe PaymentMethod id starts with pm_.")]},
        )
    try:
        customer = (
            merchant.stripe_customer_id
            or gateway.customer_create(
                email=merchant.contact_email,
                metadata={"merchant_id": str(merchant.pk)},
                key=f"merchant-{merchant.pk}-customer",
            )["id"]
        )
        gateway.payment_method_attach(payment_method_id=payment_method_id, customer=customer)
    except gateway.StripeError as exc:
        raise ApplicationError(
            gettext("The card could not be saved: %(value)s") % {"value": exc.user_message or exc},
            code="card_refused",
        ) from exc
    return merchants.merchant_card_store(
        merchant=merchant, customer_id=customer, payment_method_id=payment_method_id
    )
