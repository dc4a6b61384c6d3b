"""Outbound webhooks: endpoints (writes), recording events in the state change's transaction
(an outbox), and what to send next. Sending is marketplace.hooks.sending's."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

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
        raise ApplicationError(
            gettext("Unknown endpoint fields: %(join)s.") % {"join": ", ".join(sorted(unknown))}
        )
    if "url" in fields:
        try:
            addresses.check_url(fields["url"])
        except addresses.AddressRefused as exc:
            raise ApplicationError(str(exc), fields={"url": [str(exc)]}) from exc
    wrong = [t for t in fields.get("event_types", []) if t not in EventType.values]
    if wrong:
        raise ApplicationError(
            gettext("Unknown event types."),
            fields={"event_types": [gettext("Unknown: %(join)s.") % {"join": ", ".join(wrong)}]},
        )


@transaction.atomic
def endpoint_create(*, merchant: Merchant, mode: str, **fields: Any) -> WebhookEndpoint:
    if "url" not in fields:
        raise ApplicationError(gettext("An endpoint needs a url."), fields={"url": ["Required."]})
    _clean(fields)
    return WebhookEndpoint.objects.create(merchant=merchant, mode=mode, **fields)


def endpoint_get(*, merchant: Merchant, mode: str, endpoint_id: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(merchant=merchant, mode=mode, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError(gettext("No such endpoint."))
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


# One round trip records an event: the parcel's next sequence number (an upsert whose row stays
# locked until commit, so concurrent changes of one parcel get consecutive numbers in commit
# order), the event with that number in its payload, and one pending delivery per active endpoint
# of the merchant's mode that wants the type (no event types chosen: all of them).
RECORD_SQL = """
WITH seq AS (
    INSERT INTO {sequence} AS s (parcel_id, last) VALUES (%(parcel)s, 1)
    ON CONFLICT (parcel_id) DO UPDATE SET last = s.last + 1
    RETURNING last
), event AS (
    INSERT INTO {event} (id, merchant_id, parcel_id, type, sequence, livemode, payload, created_at)
    SELECT %(id)s, %(merchant)s, %(parcel)s, %(type)s, seq.last, %(livemode)s,
           jsonb_set(%(payload)s::jsonb, '{{sequence}}', to_jsonb(seq.last)), %(now)s
    FROM seq
    RETURNING id, sequence
), delivery AS (
    INSERT INTO {delivery} (event_id, endpoint_id, status, attempts, next_attempt_at,
                            created_at, updated_at)
    SELECT event.id, endpoint.id, %(pending)s, 0, %(now)s, %(now)s, %(now)s
    FROM event JOIN {endpoint} endpoint
      ON endpoint.merchant_id = %(merchant)s AND endpoint.mode = %(mode)s AND endpoint.is_active
     AND (cardinality(endpoint.event_types) = 0 OR %(type)s = ANY(endpoint.event_types))
    ORDER BY endpoint.id
    RETURNING id
)
SELECT (SELECT sequence FROM event), ARRAY(SELECT id FROM delivery ORDER BY id)
"""


def _event_create(
    *, merchant_id: int, parcel: Parcel, type: str, livemode: bool, data: dict[str, Any]
) -> WebhookEvent:
    """The event and its deliveries in one statement (RECORD_SQL); each delivery is sent after
    commit."""
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": type,
        "created": int(now.timestamp()),
        "sequence": 0,  # set by RECORD_SQL
        "livemode": livemode,
        "data": data,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            RECORD_SQL.format(
                sequence=ParcelSequence._meta.db_table,
                event=WebhookEvent._meta.db_table,
                delivery=WebhookDelivery._meta.db_table,
                endpoint=WebhookEndpoint._meta.db_table,
            ),
            {
                "id": event_id,
                "merchant": merchant_id,
                "parcel": parcel.pk,
                "type": type,
                "livemode": livemode,
                "payload": json.dumps(payload, cls=DjangoJSONEncoder),
                "now": now,
                "mode": KeyMode.LIVE if livemode else KeyMode.TEST,
                "pending": DeliveryStatus.PENDING,
            },
        )
        sequence, delivery_ids = cursor.fetchone()
    for delivery_id in delivery_ids:
        enqueue_on_commit(tasks.deliver_webhook, delivery_id)
    payload["sequence"] = sequence
    event = WebhookEvent(
        id=event_id,
        merchant_id=merchant_id,
        parcel=parcel,
        type=type,
        sequence=sequence,
        livemode=livemode,
        payload=payload,
        created_at=now,
    )
    event._state.adding = False
    event._state.db = connection.alias
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
    # A send in flight is not waited for: this one goes now, and the other's result is logged
    # but no longer moves the delivery.
    delivery.leased_until = None
    delivery.save(update_fields=["status", "next_attempt_at", "leased_until", "updated_at"])
    enqueue_on_commit(tasks.deliver_webhook, delivery.pk, True)
    return delivery


def retry_window_over(delivery: WebhookDelivery, now: datetime) -> bool:
    return (now - delivery.created_at).total_seconds() > settings.HOOKS_RETRY_HOURS * 3600
