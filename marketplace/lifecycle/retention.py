"""Retention of the most sensitive traces of a delivery (docs/personal-data.md, "Retention"):
the courier's positions, the photos sent in its chat, and the proof photo and signature of the
hand-over. Each is deleted a number of days after the delivery finished:

    RETENTION_POSITIONS_DAYS    location pings and the last live position   (default 30)
    RETENTION_CHAT_IMAGES_DAYS  photos in the delivery's conversation        (default 180)
    RETENTION_PROOF_DAYS        proof-of-delivery photo and signature        (default 365)

Counted from when the delivery finished (`delivered_at`, or the last change of a delivery that
was cancelled, handed back or sent back). Never touched: a delivery still open, or one whose
parcel is being sent back or whose payment is disputed (they may still be evidence). The raw
pings have their own, shorter backstop counted from arrival (TRACKING_RETENTION_DAYS, task
`purge_old_pings`), which this purge does not replace.

`retention_purge` is idempotent: what is gone is not found again. Files are deleted from
storage after the rows' commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace.chat.models import Message
from marketplace.core.transactions import files_delete_on_commit
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.payments.models import Dispute, DisputeStatus, Payment, PaymentStatus
from marketplace.returns.models import ParcelReturn, ReturnStatus
from marketplace.tracking.models import LivePosition, LocationPing

log = logging.getLogger(__name__)

FINISHED = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.REASSIGNED,
        DeliveryStatus.RETURNED,
    }
)
CHUNK = 500
IMAGE_REMOVED = "[photo removed]"


def finished_deliveries(*, before: datetime) -> QuerySet[Delivery]:
    """Deliveries finished before `before` that nothing may still need as evidence: no open
    return of their parcel, no open dispute on its payments."""
    disputed = Payment.objects.filter(parcel=OuterRef("parcel_id")).filter(
        Q(status=PaymentStatus.DISPUTED)
        | Q(
            pk__in=Dispute.objects.filter(status=DisputeStatus.OPEN).values("payment_id"),
        )
    )
    returning = ParcelReturn.objects.filter(
        original=OuterRef("parcel_id"),
        status__in=[ReturnStatus.REQUESTED, ReturnStatus.APPROVED],
    )
    return (
        Delivery.objects.filter(status__in=FINISHED)
        .annotate(finished_at=Coalesce("delivered_at", "updated_at"))
        .filter(finished_at__lt=before)
        .exclude(Exists(disputed))
        .exclude(Exists(returning))
    )


def _cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _positions(now: datetime, *, dry_run: bool) -> tuple[int, int]:
    done = finished_deliveries(before=_cutoff(now, settings.RETENTION_POSITIONS_DAYS))
    pings = LocationPing.objects.filter(delivery__in=done.values("pk"))
    lives = LivePosition.objects.filter(delivery__in=done.values("pk"))
    if dry_run:
        return pings.count(), lives.count()
    deleted = 0
    while ids := list(pings.values_list("pk", flat=True)[:CHUNK]):
        deleted += LocationPing.objects.filter(pk__in=ids).delete()[0]
    return deleted, lives.delete()[0]


def _chat_images(now: datetime, *, dry_run: bool) -> int:
    done = finished_deliveries(before=_cutoff(now, settings.RETENTION_CHAT_IMAGES_DAYS))
    rows = Message.objects.filter(conversation__delivery__in=done.values("pk")).exclude(image="")
    if dry_run:
        return rows.count()
    removed = 0
    while batch := list(rows.order_by("pk")[:CHUNK]):
        with transaction.atomic():
            locked = list(
                Message.objects.select_for_update()
                .filter(pk__in=[m.pk for m in batch])
                .exclude(image="")
            )
            files_delete_on_commit([m.image for m in locked])
            for message in locked:
                message.image = ""  # type: ignore[assignment]
                if not message.body:
                    message.body = IMAGE_REMOVED  # a message holds a text or a photo
                message.save(update_fields=["image", "body"])
            removed += len(locked)
    return removed


def _proofs(now: datetime, *, dry_run: bool) -> tuple[int, int]:
    done = finished_deliveries(before=_cutoff(now, settings.RETENTION_PROOF_DAYS))
    photos = done.exclude(proof_photo="")
    signatures = done.exclude(signature_image="")
    if dry_run:
        return photos.count(), signatures.count()
    counts = [0, 0]
    for index, (field, rows) in enumerate(
        (("proof_photo", photos), ("signature_image", signatures))
    ):
        while ids := list(rows.order_by("pk").values_list("pk", flat=True)[:CHUNK]):
            with transaction.atomic():
                # A finished delivery never moves again; the lock keeps a concurrent write out.
                locked = list(
                    Delivery.objects.select_for_update().filter(pk__in=ids).exclude(**{field: ""})
                )
                files_delete_on_commit([getattr(d, field) for d in locked])
                # .update: the delivery's `updated_at` (its finishing time) stays as it was.
                Delivery.objects.filter(pk__in=[d.pk for d in locked]).update(**{field: ""})
                counts[index] += len(locked)
    return counts[0], counts[1]


def retention_purge(*, now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete what is past retention on finished deliveries; with `dry_run`, only count it.
    Returns the counts per kind."""
    now = now or timezone.now()
    pings, live_positions = _positions(now, dry_run=dry_run)
    chat_images = _chat_images(now, dry_run=dry_run)
    proof_photos, signatures = _proofs(now, dry_run=dry_run)
    counts = {
        "positions": pings,
        "live_positions": live_positions,
        "chat_images": chat_images,
        "proof_photos": proof_photos,
        "signatures": signatures,
    }
    log.info("retention purge%s: %s", " (dry run)" if dry_run else "", counts, extra=counts)
    return counts
