"""The one module that talks to Stripe (and the only one that imports `stripe`).

Every call that creates or moves money carries a deterministic idempotency key chosen by the
caller (`delivery-<id>-transfer`, ...), so a retry after a crash or a timeout returns the first
result instead of moving money twice. stripe-python's own retries are kept at 2, with its keys
replaced by ours.
"""

from __future__ import annotations

import time
from typing import Any

import stripe
from django.conf import settings
from stripe import RequestOptions
from stripe.params import (
    AccountCreateParams,
    AccountLinkCreateParams,
    CustomerCreateParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
    TransferCreateParams,
)

from marketplace.core.json_input import loads_bounded

StripeError = stripe.StripeError
SignatureError = stripe.SignatureVerificationError


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key=settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
        # Each attempt gives up after this (Stripe's own default is 80 s): a task calling
        # Stripe stays well inside the broker's visibility timeout (docs/production.md).
        http_client=stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _opts(key: str | None = None, account: str | None = None) -> RequestOptions:
    options: RequestOptions = {}
    if key:
        options["idempotency_key"] = key
    if account:
        options["stripe_account"] = account
    return options


def as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


# --- payments ---
def payment_intent_create(
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    key: str,
    payment_method: str | None = None,
    customer: str | None = None,
) -> dict[str, Any]:
    params: PaymentIntentCreateParams = {
        "amount": amount,
        "currency": currency.lower(),
        "metadata": metadata,
        "capture_method": "automatic",
    }
    if payment_method:
        params["payment_method"] = payment_method
    if customer:
        params["customer"] = customer
    return as_dict(_client().v1.payment_intents.create(params=params, options=_opts(key)))


def customer_create_with_card(*, email: str, card_token: str, key: str) -> dict[str, Any]:
    """A Stripe customer holding the card tokenised by Stripe.js (`tok_...`); its
    `default_source` (`card_...`) can pay a PaymentIntent."""
    params: CustomerCreateParams = {"email": email, "source": card_token}
    return as_dict(_client().v1.customers.create(params=params, options=_opts(key)))


def customer_create(*, email: str, metadata: dict[str, str], key: str) -> dict[str, Any]:
    """A Stripe customer with no card yet (a merchant's; cards are attached to it)."""
    params: CustomerCreateParams = {"email": email, "metadata": metadata}
    return as_dict(_client().v1.customers.create(params=params, options=_opts(key)))


def payment_method_attach(*, payment_method_id: str, customer: str) -> dict[str, Any]:
    """Keep a PaymentMethod on a customer, so it can be charged off-session later."""
    return as_dict(
        _client().v1.payment_methods.attach(payment_method_id, params={"customer": customer})
    )


def payment_intent_charge_off_session(
    *,
    amount: int,
    currency: str,
    customer: str,
    payment_method: str,
    metadata: dict[str, str],
    key: str,
) -> dict[str, Any]:
    """Charge a saved card with nobody present (confirmed at once). A decline raises
    StripeError (a CardError); otherwise read the intent's status."""
    params: PaymentIntentCreateParams = {
        "amount": amount,
        "currency": currency.lower(),
        "customer": customer,
        "payment_method": payment_method,
        "metadata": metadata,
        "capture_method": "automatic",
        "confirm": True,
        "off_session": True,
    }
    return as_dict(_client().v1.payment_intents.create(params=params, options=_opts(key)))


def payment_intent_retrieve(pi_id: str) -> dict[str, Any]:
    return as_dict(_client().v1.payment_intents.retrieve(pi_id))


def payment_intent_confirm(pi_id: str, *, key: str) -> dict[str, Any]:
    return as_dict(_client().v1.payment_intents.confirm(pi_id, options=_opts(key)))


def payment_intent_cancel(pi_id: str, *, key: str) -> dict[str, Any]:
    return as_dict(_client().v1.payment_intents.cancel(pi_id, options=_opts(key)))


def charge_retrieve(charge_id: str) -> dict[str, Any]:
    return as_dict(_client().v1.charges.retrieve(charge_id))


def refund_create(
    *, charge_id: str, amount: int, key: str, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    params: RefundCreateParams = {"charge": charge_id, "amount": amount}
    if metadata:
        params["metadata"] = metadata
    return as_dict(_client().v1.refunds.create(params=params, options=_opts(key)))


def refunds_of_charge(charge_id: str) -> list[dict[str, Any]]:
    """The charge's refunds (a charge no longer embeds them by default since API 2022-11-15)."""
    page = _client().v1.refunds.list(params={"charge": charge_id, "limit": 100})
    return [as_dict(item) for item in page.data]


# --- Connect ---
def account_create(*, email: str, country: str | None, key: str) -> dict[str, Any]:
    params: AccountCreateParams = {
        "type": "express",
        "email": email,
        "capabilities": {"transfers": {"requested": True}},
    }
    if country:
        params["country"] = country
    return as_dict(_client().v1.accounts.create(params=params, options=_opts(key)))


def account_retrieve(account_id: str) -> dict[str, Any]:
    return as_dict(_client().v1.accounts.retrieve(account_id))


def account_link_create(*, account_id: str, refresh_url: str, return_url: str) -> dict[str, Any]:
    params: AccountLinkCreateParams = {
        "account": account_id,
        "refresh_url": refresh_url,
        "return_url": return_url,
        "type": "account_onboarding",
    }
    return as_dict(_client().v1.account_links.create(params=params))


def payout_retrieve(payout_id: str, *, account: str) -> dict[str, Any]:
    """A payout of a connected account to its bank."""
    return as_dict(_client().v1.payouts.retrieve(payout_id, options=_opts(account=account)))


def transfer_create(
    *,
    amount: int,
    currency: str,
    destination: str,
    source_transaction: str | None,
    transfer_group: str,
    metadata: dict[str, str],
    key: str,
) -> dict[str, Any]:
    params: TransferCreateParams = {
        "amount": amount,
        "currency": currency.lower(),
        "destination": destination,
        "transfer_group": transfer_group,
        "metadata": metadata,
    }
    if source_transaction:
        params["source_transaction"] = source_transaction
    return as_dict(_client().v1.transfers.create(params=params, options=_opts(key)))


def transfer_retrieve(transfer_id: str) -> dict[str, Any]:
    return as_dict(_client().v1.transfers.retrieve(transfer_id))


def transfer_reversal_create(*, transfer_id: str, amount: int, key: str) -> dict[str, Any]:
    return as_dict(
        _client().v1.transfers.reversals.create(
            transfer_id, params={"amount": amount}, options=_opts(key)
        )
    )


def dispute_retrieve(dispute_id: str) -> dict[str, Any]:
    return as_dict(_client().v1.disputes.retrieve(dispute_id))


# --- webhooks ---
def webhook_event_parse(*, payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """Verify the Stripe-Signature header over the raw body and return the event. Its timestamp
    must lie within STRIPE_WEBHOOK_TOLERANCE seconds of now in either direction (stripe-python
    checks only "too old"; a signature dated in the future would otherwise stay valid until
    then). Raises SignatureError, or ValueError for a body that is not a JSON object (also one
    nested too deeply; stripe-python itself fails with AttributeError on a signed list)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("The body is not UTF-8.") from exc
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=tolerance)
    if _signed_at(signature) > time.time() + tolerance:
        raise SignatureError("The timestamp is in the future.", signature, text)
    event = loads_bounded(text)
    if not isinstance(event, dict):
        raise ValueError("The event is not a JSON object.")
    return event


def _signed_at(header: str) -> int:
    """The `t=` of a Stripe-Signature header (verify_header has checked there is one)."""
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            return int(value)
    raise SignatureError("The signature has no timestamp.", header)


def webhook_signature(*, payload: str, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header Stripe would send (for tests and the local simulator)."""
    signed = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signed}"
