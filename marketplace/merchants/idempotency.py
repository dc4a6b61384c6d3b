"""`Idempotency-Key` for the merchant API's POSTs, as Stripe does it: the same key and the same
body get the first reply again; the same key with another body is refused (422
idempotency_key_reused); keys are kept MERCHANT_IDEMPOTENCY_HOURS.

Concurrent retries with one key: the first request inserts the key's row (INSERT ... ON CONFLICT
DO NOTHING, on the unique constraint) and holds its lock until it has answered; the others'
inserts wait on that row, then lock it, find the stored reply and replay it. So twenty retries
at once create exactly one delivery.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.core.exceptions import ApplicationError
from marketplace.merchants.models import IdempotencyRecord, Merchant

MAX_KEY_LENGTH = 255


class IdempotencyKeyReusedError(ApplicationError):
    code = "idempotency_key_reused"
    status_code = 422


def request_hash(*, method: str, path: str, body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{text}".encode()).hexdigest()


def _cutoff() -> Any:
    return timezone.now() - timedelta(hours=settings.MERCHANT_IDEMPOTENCY_HOURS)


def record_lock(*, merchant: Merchant, scope: str, key: str, digest: str) -> IdempotencyRecord:
    """The key's record, locked (in the caller's transaction): new (response_status None) for
    the first request, or the one a finished earlier request stored. A record older than the
    keeping time is replaced as if it were new. Raises 422 for the same key with another body."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApplicationError(
            gettext("The Idempotency-Key header must be 1 to %(MAX_KEY_LENGTH)s characters.")
            % {"MAX_KEY_LENGTH": MAX_KEY_LENGTH},
            code="invalid_idempotency_key",
        )
    assert connection.in_atomic_block, "record_lock runs in the request's transaction"
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (merchant_id, scope, key, request_hash, created_at)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (merchant_id, scope, key) DO NOTHING",
            [merchant.pk, scope, key, digest, timezone.now()],
        )
    record = IdempotencyRecord.objects.select_for_update().get(
        merchant=merchant, scope=scope, key=key
    )
    if record.created_at < _cutoff():
        record.request_hash = digest
        record.response_status = None
        record.response_body = None
        record.created_at = timezone.now()
        record.save()
    if record.request_hash != digest:
        raise IdempotencyKeyReusedError(
            gettext("This Idempotency-Key was used with another request; use a new key."),
        )
    return record


def record_store(record: IdempotencyRecord, *, status: int, body: Any) -> None:
    record.response_status = status
    record.response_body = body
    record.save(update_fields=["response_status", "response_body"])


@transaction.atomic
def records_purge() -> int:
    """Delete the records older than the keeping time (a periodic task)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=_cutoff()).delete()
    return deleted
