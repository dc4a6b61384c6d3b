"""Sending one webhook delivery: signed POST, the attempt logged, success or the next try with
exponential back-off, and an endpoint that keeps failing disabled (its owner e-mailed once).

The delivery's row is locked (SKIP LOCKED) while it is sent, so two tasks never send it at once;
a worker that dies mid-send leaves it pending and the sweep sends it again: at least once,
each with the event's id for the receiver to drop repeats. A parcel's events reach an endpoint
in sequence order: one waits while an earlier event of its parcel is pending for that endpoint.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from marketplace.hooks import addresses, signing
from marketplace.hooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)
USER_AGENT = "Waypost-Webhooks/1"
ORDER_WAIT = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... at most 6 h, plus up to 10 % jitter."""
    base = min(timedelta(seconds=30) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return base * (1 + random.random() / 10)  # jitter, not secrecy


def deliver(delivery_id: int, *, force: bool = False, now: datetime | None = None) -> str:
    """Send the delivery if it is pending and due (or `force`); returns what happened."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "endpoint__merchant")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "busy"
        if delivery.status != DeliveryStatus.PENDING:
            return delivery.status
        if not force and delivery.next_attempt_at > now:
            return "not due"
        endpoint, event = delivery.endpoint, delivery.event
        if not endpoint.is_active:
            delivery.next_attempt_at = now + timedelta(hours=1)
            delivery.save(update_fields=["next_attempt_at", "updated_at"])
            return "endpoint disabled"
        if event.parcel_id is not None and _earlier_pending(delivery):
            delivery.next_attempt_at = now + ORDER_WAIT
            delivery.save(update_fields=["next_attempt_at", "updated_at"])
            return "waiting for an earlier event"
        attempt = _post(endpoint, event.payload)
        attempt.delivery = delivery
        attempt.save()
        delivery.attempts += 1
        delivery.last_status_code = attempt.status_code
        if attempt.status_code is not None and 200 <= attempt.status_code < 300:
            delivery.status, delivery.delivered_at = DeliveryStatus.SUCCEEDED, now
            _endpoint_succeeded(endpoint)
        else:
            _endpoint_failed(endpoint, attempt)
            if (now - delivery.created_at).total_seconds() > settings.HOOKS_RETRY_HOURS * 3600:
                delivery.status = DeliveryStatus.GAVE_UP
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.save()
        return delivery.status


def _earlier_pending(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        event__parcel_id=delivery.event.parcel_id or 0,
        event__sequence__lt=delivery.event.sequence,
        status=DeliveryStatus.PENDING,
    ).exists()


def _post(endpoint: WebhookEndpoint, payload: dict[str, Any]) -> WebhookAttempt:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.signature_header(secret=endpoint.secret, body=body),
        "Waypost-Event-Id": payload["id"],
        "Waypost-Event-Type": payload["type"],
    }
    started = time.perf_counter()
    attempt = WebhookAttempt()
    try:
        addresses.check_url(endpoint.url)  # again: DNS may have changed since it was saved
        response = requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.HOOKS_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        attempt.status_code = response.status_code
        attempt.response_excerpt = response.text[:1024]
    except addresses.AddressRefused as exc:
        attempt.error = f"refused: {exc}"[:300]
    except requests.RequestException as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:300]
    attempt.latency_ms = round((time.perf_counter() - started) * 1000)
    return attempt


def _endpoint_succeeded(endpoint: WebhookEndpoint) -> None:
    if endpoint.consecutive_failures:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)


def _endpoint_failed(endpoint: WebhookEndpoint, attempt: WebhookAttempt) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.consecutive_failures += 1
    if (
        endpoint.is_active
        and endpoint.consecutive_failures >= settings.HOOKS_DISABLE_AFTER_FAILURES
    ):
        endpoint.is_active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = (
            f"{endpoint.consecutive_failures} failed attempts in a row; last: "
            f"{attempt.status_code or attempt.error}"
        )[:300]
        merchant = endpoint.merchant
        transaction.on_commit(
            lambda: send_mail(
                subject=f"Your webhook endpoint {endpoint.url} was disabled",
                message=(
                    f"We stopped sending events to {endpoint.url}: {endpoint.disabled_reason}.\n"
                    "Fix it, then re-enable the endpoint; the events kept meanwhile are sent then."
                ),
                from_email=None,
                recipient_list=[merchant.contact_email],
            )
        )
        log.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    endpoint.save()
