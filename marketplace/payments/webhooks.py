"""Stripe webhooks' inbox: verify, store once, and claim an event for processing.

Two endpoints, each with its own secret: platform events and Connect events (which carry the
connected `account`). The signature is checked over the raw body with a timestamp tolerance. An
event is stored in the inbox by its id before anything else; a duplicate is acknowledged and
ignored. What an event does (re-reading its object from Stripe and moving our state forward,
which may open a parcel) is `marketplace.lifecycle.stripe_webhooks`'s.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.core import metrics
from marketplace.core.exceptions import ApplicationError
from marketplace.payments import gateway
from marketplace.payments.models import WebhookEvent


class InvalidWebhookError(ApplicationError):
    code = "invalid_webhook"


def webhook_event_store(
    *, body: bytes, signature: str | None, endpoint: str, secret: str
) -> WebhookEvent | None:
    """Verify a delivery from Stripe and store its event; None for a duplicate. Raises
    InvalidWebhookError (400) for a missing or bad signature or a body that is not an event."""
    if not signature:
        raise InvalidWebhookError(gettext("Missing Stripe-Signature header."))
    try:
        event = gateway.webhook_event_parse(payload=body, signature=signature, secret=secret)
    except gateway.SignatureError as exc:
        raise InvalidWebhookError(
            gettext("Bad signature, wrong secret or stale timestamp.")
        ) from exc
    except ValueError as exc:
        raise InvalidWebhookError(gettext("The body is not a Stripe event.")) from exc
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InvalidWebhookError(gettext("The event has no id or type."))
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                event_id=event["id"],
                type=event["type"],
                endpoint=endpoint,
                account=str(event.get("account") or ""),
                payload=event,
            )
    except IntegrityError:
        return None


def webhook_event_claim(event_pk: int) -> WebhookEvent | None:
    """Take a stored, unprocessed event to process it now (counting the attempt), or None when
    it is done already or another worker holds it."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_pk).first()
        if event is None or event.processed_at is not None:
            return None
        WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    return event


def webhook_event_failed(event: WebhookEvent, exc: BaseException) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(last_error=repr(exc)[:2000])


def webhook_event_done(event: WebhookEvent) -> None:
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=now, last_error="")
    metrics.STRIPE_WEBHOOK_LAG_SECONDS.observe(max((now - event.received_at).total_seconds(), 0))


def webhook_object_id(event: WebhookEvent) -> str:
    payload = event.payload
    return str(((payload.get("data") or {}).get("object") or {}).get("id") or "")
