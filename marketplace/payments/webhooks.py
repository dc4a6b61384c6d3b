"""Stripe webhooks: verify, store once, answer fast; process later in a task.

Two endpoints, each with its own secret: platform events and Connect events (which carry the
connected `account`). The signature is checked over the raw body with a timestamp tolerance. An
event is stored in the inbox by its id before anything else; a duplicate is acknowledged and
ignored. Processing re-reads the object from Stripe and only moves our state forward, so
duplicated and out-of-order deliveries change nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from marketplace.core.transactions import enqueue_on_commit
from marketplace.payments import gateway, services
from marketplace.payments.models import WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)


def _error(message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "invalid_webhook", "message": message}}, status=400)


def _receive(request: HttpRequest, *, endpoint: str, secret: str) -> JsonResponse:
    signature = request.headers.get("Stripe-Signature")
    if not signature:
        return _error("Missing Stripe-Signature header.")
    try:
        event = gateway.webhook_event_parse(
            payload=request.body, signature=signature, secret=secret
        )
    except gateway.SignatureError:
        return _error("Bad signature, wrong secret or stale timestamp.")
    except ValueError:
        return _error("The body is not a Stripe event.")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        return _error("The event has no id or type.")
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                event_id=event["id"],
                type=event["type"],
                endpoint=endpoint,
                account=str(event.get("account") or ""),
                payload=json.loads(request.body),
            )
            enqueue_on_commit(_process_task(), stored.pk)
    except IntegrityError:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True})


def _process_task():  # type: ignore[no-untyped-def]
    from marketplace.payments.tasks import process_webhook_event

    return process_webhook_event


@csrf_exempt
@require_POST
def platform_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(
        request, endpoint=WebhookEndpoint.PLATFORM, secret=settings.STRIPE_WEBHOOK_SECRET
    )


@csrf_exempt
@require_POST
def connect_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(
        request, endpoint=WebhookEndpoint.CONNECT, secret=settings.STRIPE_CONNECT_WEBHOOK_SECRET
    )


def _object_id(payload: dict[str, Any]) -> str:
    return str(((payload.get("data") or {}).get("object") or {}).get("id") or "")


def webhook_process(*, event_pk: int) -> None:
    """Handle one stored event by re-reading its object. Safe to run any number of times."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_pk).first()
        if event is None or event.processed_at is not None:
            return
        WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    kind, object_id = event.type, _object_id(event.payload)
    try:
        if kind.startswith("payment_intent."):
            services.payment_sync(payment_intent_id=object_id)
        elif kind == "charge.refunded":
            services.charge_refunds_sync(charge_id=object_id)
        elif kind.startswith("charge.dispute."):
            services.dispute_sync(dispute_id=object_id)
        elif kind == "account.updated":
            services.account_sync(account_id=object_id or event.account)
        elif kind.startswith("payout."):
            services.bank_payout_sync(payout_id=object_id, account_id=event.account)
        elif kind.startswith("transfer."):
            log.info("%s %s noted", kind, object_id)  # our transfers are recorded when made
    except Exception as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(last_error=repr(exc)[:2000])
        raise
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now(), last_error="")
