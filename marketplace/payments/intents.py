"""PaymentIntents, shared by the parcel's payment (escrow) and tips: create one (a Stripe.js card
kept on a customer, or a saved payment method), confirm it at once, read its charge."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError
from marketplace.payments import gateway

log = logging.getLogger(__name__)


class PaymentProviderError(ApplicationError):
    code = "payment_provider_error"
    status_code = 502


def intent_create(
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
            gettext("The payment provider refused: %(value)s") % {"value": exc.user_message or exc}
        ) from exc
    return intent, payment_method


def intent_confirm(intent_id: str) -> None:
    """Confirm with the attached payment method. A refusal is logged here and read by the
    caller's sync (the intent then carries the card's error)."""
    try:
        gateway.payment_intent_confirm(intent_id, key=f"{intent_id}-confirm")
    except gateway.StripeError as exc:
        log.info("confirm of %s refused: %s", intent_id, exc)


def intent_charge_id(intent: dict[str, Any]) -> str:
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        return str(charge["id"])
    if charge:
        return str(charge)
    charges = (intent.get("charges") or {}).get("data") or []
    return str(charges[-1]["id"]) if charges else ""
