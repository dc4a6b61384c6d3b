"""The sweep that makes lost money tasks harmless.

Releases and refunds run in Celery tasks queued after the commit that called for them (a
delivery confirmed, a parcel cancelled, expired or returned). A worker killed mid-task, a
broker that loses the message, or a task whose retries ran out while Stripe was down would
leave the money held in escrow for ever. Every TASK_SWEEP_SECONDS this sweep finds each
payment still held whose parcel says it should have moved, and queues its task again:

- a payment held (succeeded, not disputed) for a delivery confirmed: `release_delivery`;
- money held, or an intent still open, for a parcel cancelled or expired: `refund_cancelled_parcel`;
- money held for a parcel returned after a failed delivery, and, while RETURN_REFUND_ORIGINAL is
  "platform_fee", the fee of a delivered parcel returned in the last RETURN_WINDOW_DAYS and not
  yet refunded at Stripe: `refund_returned_parcel`.

Transfers need no sweep here: every transfer is a `waiting` row first, and `send_due_transfers`
sends those. Each task is idempotent (deterministic Stripe idempotency keys, unique ledger
sources), so one queued twice changes nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from marketplace.core.transactions import enqueue_on_commit
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.escrow import LIVE, release_delivery
from marketplace.payments.models import Payment, Refund
from marketplace.payments.models import PaymentStatus as P
from marketplace.payments.refunds import refund_cancelled_parcel, refund_returned_parcel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MoneySweepResult:
    releases: list[int]
    cancel_refunds: list[int]
    return_refunds: list[int]


def deliveries_due_for_release(*, changed_before: datetime, limit: int) -> list[int]:
    held = Payment.objects.filter(parcel=OuterRef("parcel_id"), status=P.SUCCEEDED)
    qs = Delivery.objects.filter(
        status=DeliveryStatus.DELIVERED, updated_at__lte=changed_before
    ).filter(Exists(held))
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])


def parcels_due_for_cancel_refund(*, changed_before: datetime, limit: int) -> list[int]:
    unsettled = Payment.objects.filter(parcel=OuterRef("pk"), status__in=[P.SUCCEEDED, *LIVE])
    qs = Parcel.objects.filter(
        status__in=[ParcelStatus.CANCELLED, ParcelStatus.EXPIRED], updated_at__lte=changed_before
    ).filter(Exists(unsettled))
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])


def parcels_due_for_return_refund(
    *, now: datetime, changed_before: datetime, limit: int
) -> list[int]:
    returned = Parcel.objects.filter(status=ParcelStatus.RETURNED, updated_at__lte=changed_before)
    held = Payment.objects.filter(parcel=OuterRef("pk"), status=P.SUCCEEDED)
    due = set(returned.filter(Exists(held)).values_list("pk", flat=True)[:limit])
    if settings.RETURN_REFUND_ORIGINAL == "platform_fee":
        released = Payment.objects.filter(
            parcel=OuterRef("pk"), status=P.RELEASED, platform_fee__gt=0
        )
        fee_refunded = Refund.objects.filter(
            idempotency_key=_fee_refund_key(OuterRef("pk"))
        ).exclude(stripe_refund_id="")
        since = now - timedelta(days=settings.RETURN_WINDOW_DAYS)
        due |= set(
            returned.filter(updated_at__gte=since)
            .filter(Exists(released))
            .exclude(Exists(fee_refunded))
            .values_list("pk", flat=True)[:limit]
        )
    return sorted(due)[:limit]


def _fee_refund_key(parcel_id: OuterRef) -> Concat:
    """The idempotency key escrow_refund_returned gives a returned parcel's fee refund."""
    return Concat(
        Value("parcel-"),
        Cast(parcel_id, CharField()),
        Value("-refund-fee-returned"),
        output_field=CharField(),
    )


def money_sweep(*, now: datetime | None = None) -> MoneySweepResult:
    """Queue again the releases and refunds that were lost (see the module's docstring)."""
    now = now or timezone.now()
    changed_before = now - timedelta(seconds=settings.TASK_SWEEP_GRACE_SECONDS)
    limit = settings.TASK_SWEEP_BATCH
    result = MoneySweepResult(
        releases=deliveries_due_for_release(changed_before=changed_before, limit=limit),
        cancel_refunds=parcels_due_for_cancel_refund(changed_before=changed_before, limit=limit),
        return_refunds=parcels_due_for_return_refund(
            now=now, changed_before=changed_before, limit=limit
        ),
    )
    for delivery_id in result.releases:
        enqueue_on_commit(release_delivery, delivery_id)
    for parcel_id in result.cancel_refunds:
        enqueue_on_commit(refund_cancelled_parcel, parcel_id)
    for parcel_id in result.return_refunds:
        enqueue_on_commit(refund_returned_parcel, parcel_id)
    if result.releases or result.cancel_refunds or result.return_refunds:
        log.warning(
            "money sweep: queued %d releases, %d cancellation refunds, %d return refunds",
            len(result.releases),
            len(result.cancel_refunds),
            len(result.return_refunds),
        )
    return result
