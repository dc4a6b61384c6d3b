"""Reads for outbound webhooks."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from marketplace.hooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from marketplace.merchants.models import Merchant


def deliveries_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending deliveries whose next attempt is due and that no sender holds (the sweep queues
    them)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def endpoints_of(*, merchant: Merchant, mode: str) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant=merchant, mode=mode).order_by("pk")


def deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-pk")
    )


def endpoint_of(*, merchant: Merchant, endpoint_id: int) -> WebhookEndpoint | None:
    """The merchant's endpoint of either mode (the web pages show both), or None."""
    return WebhookEndpoint.objects.filter(merchant=merchant, pk=endpoint_id).first()


def delivery_of(*, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).first()
