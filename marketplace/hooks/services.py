"""Outbound webhooks: endpoints (writes), recording events in the state change's transaction
(an outbox), and what to send next. Sending is marketplace.hooks.sending's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError, NotFoundError
from marketplace.core.transactions import enqueue_on_commit
from marketplace.hooks import addresses, tasks
from marketplace.hooks.models import (
    DeliveryStatus,
    EventType,
    ParcelSequence,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_secret,
)
from marketplace.merchants.models import KeyMode, Merchant
from marketplace.parcels.models import Parcel

ENDPOINT_FIELDS = frozenset({"url", "description", "event_types", "is_active"})


def _clean(fields: dict[str, Any]) -> None:
    unknown = set(fields) - ENDPOINT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown endpoint fields: {', '.join(sorted(unknown))}.")
    if "url" in fields:
        try:
            addresses.check_url(fields["url"])
        except addresses.AddressRefused as exc:
            raise ApplicationError(str(exc), fields={"url": [str(exc)]}) from exc
    wrong = [t for t in fields.get("event_types", []) if t not in EventType.values]
    if wrong:
        raise ApplicationError(
            "Unknown event types.", fields={"event_types": [f"Unknown: {', '.join(wrong)}."]}
        )


@transaction.atomic
def endpoint_create(*, merchant: Merchant, mode: str, **fields: Any) -> WebhookEndpoint:
    if "url" not in fields:
        raise ApplicationError("An endpoint needs a url.", fields={"url": ["Required."]})
    _clean(fields)
    return WebhookEndpoint.objects.create(merchant=merchant, mode=mode, **fields)


def endpoint_get(*, merchant: Merchant, mode: str, endpoint_id: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(merchant=merchant, mode=mode, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError("No such endpoint.")
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    _clean(changes)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if changes.get("is_active"):  # re-enabled by its owner
        endpoint.consecutive_failures, endpoint.disabled_at, endpoint.disabled_reason = 0, None, ""
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_roll_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def _next_sequence(parcel_id: int) -> int:
    """The parcel's next event number: one upsert, its row locked until commit, so concurrent
    changes of one parcel get consecutive numbers in commit order."""
    table = ParcelSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (parcel_id, last) VALUES (%s, 1)"  # noqa: S608
            f" ON CONFLICT (parcel_id) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [parcel_id],
        )
        return int(cursor.fetchone()[0])


def parcel_data(parcel: Parcel) -> dict[str, Any]:
    return {
        "id": parcel.pk,
        "external_reference": parcel.external_reference,
        "status": parcel.status,
        "price_total": parcel.price_total,
        "currency": parcel.currency,
    }


def event_record(
    *, parcel: Parcel, type: str, data: dict[str, Any] | None = None
) -> WebhookEvent | None:
    """Record a merchant parcel's event in the caller's transaction and queue its sending after
    commit. A parcel without a merchant costs nothing (no query)."""
    if parcel.merchant_id is None:
        return None
    return _event_create(
        merchant_id=parcel.merchant_id,
        parcel=parcel,
        type=type,
        livemode=not parcel.is_test,
        data={"parcel": parcel_data(parcel), **(data or {})},
    )


def _event_create(
    *, merchant_id: int, parcel: Parcel | None, type: str, livemode: bool, data: dict[str, Any]
) -> WebhookEvent:
    sequence = _next_sequence(parcel.pk) if parcel is not None else 0
    event = WebhookEvent(
        merchant_id=merchant_id, parcel=parcel, type=type, sequence=sequence, livemode=livemode
    )
    event.payload = {
        "id": str(event.id),
        "type": type,
        "created": int(timezone.now().timestamp()),
        "sequence": sequence,
        "livemode": livemode,
        "data": data,
    }
    event.save()
    mode = KeyMode.LIVE if livemode else KeyMode.TEST
    endpoints = WebhookEndpoint.objects.filter(merchant_id=merchant_id, mode=mode, is_active=True)
    now = timezone.now()
    for endpoint in endpoints:
        if endpoint.wants(type):
            delivery = WebhookDelivery.objects.create(
                event=event, endpoint=endpoint, next_attempt_at=now
            )
            enqueue_on_commit(tasks.deliver_webhook, delivery.pk)
    return event


@transaction.atomic
def test_event_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event for this endpoint alone."""
    event = WebhookEvent(
        merchant_id=endpoint.merchant_id,
        type=EventType.TEST,
        livemode=endpoint.mode == KeyMode.LIVE,
    )
    event.payload = {
        "id": str(event.id),
        "type": EventType.TEST,
        "created": int(timezone.now().timestamp()),
        "sequence": 0,
        "livemode": event.livemode,
        "data": {"endpoint": endpoint.pk},
    }
    event.save()
    delivery = WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=timezone.now()
    )
    enqueue_on_commit(tasks.deliver_webhook, delivery.pk)
    return delivery


@transaction.atomic
def redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send it again now (also one that succeeded or was given up)."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at", "updated_at"])
    enqueue_on_commit(tasks.deliver_webhook, delivery.pk, True)
    return delivery


def retry_window_over(delivery: WebhookDelivery, now: datetime) -> bool:
    return (now - delivery.created_at).total_seconds() > settings.HOOKS_RETRY_HOURS * 3600
