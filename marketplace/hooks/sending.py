"""Sending one webhook delivery: signed POST, the attempt logged, success or the next try with
exponential back-off, and an endpoint that keeps failing disabled (its owner e-mailed once).

The delivery's row is locked (SKIP LOCKED) while it is sent, so two tasks never send it at once;
a worker that dies mid-send leaves it pending and the sweep sends it again: at least once,
each with the event's id for the receiver to drop repeats. A parcel's events reach an endpoint
in sequence order: one waits while an earlier event of its parcel is pending for that endpoint.

Each worker thread keeps its own urllib3 connection pools, so sends to an endpoint reuse its
keep-alive connection instead of opening one per event (the address is still checked before
every send).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import urllib3
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from marketplace.hooks import addresses, signing
from marketplace.hooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger(__name__)
USER_AGENT = "Waypost-Webhooks/1"
ORDER_WAIT = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=6)
EXCERPT_BYTES = 1024  # WebhookAttempt.response_excerpt's length
_local = threading.local()


def _pool() -> urllib3.PoolManager:
    """This thread's connection pools (one per endpoint host), made on first use: after a
    fork, too. urllib3 directly: requests' sessions cost three times as much per POST here."""
    pool: urllib3.PoolManager | None = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = urllib3.PoolManager(
            num_pools=100, maxsize=1, headers={"User-Agent": USER_AGENT}, retries=False
        )
    return pool


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... at most 6 h, plus up to 10 % jitter."""
    base = min(timedelta(seconds=30) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return base * (1 + random.random() / 10)  # jitter, not secrecy


# The hot path of every webhook is two statements besides the POST (docs/webhooks.md,
# "Benchmark"): CLAIM_SQL locks the delivery and reads all the send needs, with whether an
# earlier event of its parcel is still pending for the same endpoint (none for an event of no
# parcel: NULL matches nothing); FINISH_SQL logs the attempt and moves the delivery. The claim
# also turns synchronous_commit off for this transaction alone: the attempt's log may be lost in
# a database crash (the delivery then stays pending and is sent again: at least once, as
# always), so its commit need not wait for the disk.
CLAIM_SQL = """
SELECT d.status, d.next_attempt_at, d.created_at, d.attempts,
       e.id, e.url, e.secret, e.is_active, e.consecutive_failures, ev.payload,
       EXISTS (
           SELECT 1 FROM {delivery} p JOIN {event} pe ON pe.id = p.event_id
           WHERE p.endpoint_id = d.endpoint_id AND p.status = %(pending)s
             AND pe.parcel_id = ev.parcel_id AND pe.sequence < ev.sequence
       ),
       set_config('synchronous_commit', 'off', true)
FROM {delivery} d
JOIN {event} ev ON ev.id = d.event_id
JOIN {endpoint} e ON e.id = d.endpoint_id
WHERE d.id = %(id)s
FOR UPDATE OF d SKIP LOCKED
"""
FINISH_SQL = """
WITH attempt AS (
    INSERT INTO {attempt} (delivery_id, created_at, status_code, latency_ms, response_excerpt,
                           error)
    VALUES (%(id)s, %(now)s, %(code)s, %(latency)s, %(excerpt)s, %(error)s)
)
UPDATE {delivery}
SET status = %(status)s, attempts = %(attempts)s, last_status_code = %(code)s,
    delivered_at = %(delivered_at)s, next_attempt_at = %(next)s, updated_at = %(now)s
WHERE id = %(id)s
"""


def _tables() -> dict[str, str]:
    return {
        "delivery": WebhookDelivery._meta.db_table,
        "event": WebhookEvent._meta.db_table,
        "endpoint": WebhookEndpoint._meta.db_table,
        "attempt": WebhookAttempt._meta.db_table,
    }


@dataclass
class _Claimed:
    """A locked pending delivery and what sending it needs (CLAIM_SQL's row)."""

    status: str
    next_attempt_at: datetime
    created_at: datetime
    attempts: int
    endpoint_id: int
    url: str
    secret: str
    endpoint_active: bool
    endpoint_failures: int
    payload: dict[str, Any]
    waits: bool


def _claim(cursor: Any, delivery_id: int) -> _Claimed | None:
    cursor.execute(
        CLAIM_SQL.format(**_tables()), {"id": delivery_id, "pending": DeliveryStatus.PENDING}
    )
    row = cursor.fetchone()
    if row is None:
        return None
    payload = row[9]
    return _Claimed(
        status=row[0],
        next_attempt_at=row[1],
        created_at=row[2],
        attempts=row[3],
        endpoint_id=row[4],
        url=row[5],
        secret=row[6],
        endpoint_active=row[7],
        endpoint_failures=row[8],
        payload=json.loads(payload) if isinstance(payload, str) else payload,
        waits=row[10],
    )


def _postpone(delivery_id: int, until: datetime) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=until, updated_at=timezone.now()
    )


def deliver(delivery_id: int, *, force: bool = False, now: datetime | None = None) -> str:
    """Send the delivery if it is pending and due (or `force`); returns what happened."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        claimed = _claim(cursor, delivery_id)
        if claimed is None:
            exists = WebhookDelivery.objects.filter(pk=delivery_id).exists()
            return "busy" if exists else "gone"
        if claimed.status != DeliveryStatus.PENDING:
            return claimed.status
        if not force and claimed.next_attempt_at > now:
            return "not due"
        if not claimed.endpoint_active:
            _postpone(delivery_id, now + timedelta(hours=1))
            return "endpoint disabled"
        if claimed.waits:
            _postpone(delivery_id, now + ORDER_WAIT)
            return "waiting for an earlier event"
        attempt = _post(url=claimed.url, secret=claimed.secret, payload=claimed.payload)
        attempts = claimed.attempts + 1
        status, delivered_at, next_attempt_at = (
            DeliveryStatus.PENDING,
            None,
            claimed.next_attempt_at,
        )
        if attempt.status_code is not None and 200 <= attempt.status_code < 300:
            status, delivered_at = DeliveryStatus.SUCCEEDED, now
            if claimed.endpoint_failures:
                WebhookEndpoint.objects.filter(pk=claimed.endpoint_id).update(
                    consecutive_failures=0
                )
        else:
            _endpoint_failed(claimed.endpoint_id, attempt)
            if (now - claimed.created_at).total_seconds() > settings.HOOKS_RETRY_HOURS * 3600:
                status = DeliveryStatus.GAVE_UP
            else:
                next_attempt_at = now + backoff(attempts)
        cursor.execute(
            FINISH_SQL.format(**_tables()),
            {
                "id": delivery_id,
                "now": now,
                "code": attempt.status_code,
                "latency": attempt.latency_ms,
                "excerpt": attempt.response_excerpt,
                "error": attempt.error,
                "status": status,
                "attempts": attempts,
                "delivered_at": delivered_at,
                "next": next_attempt_at,
            },
        )
        return status


def _post(*, url: str, secret: str, payload: dict[str, Any]) -> WebhookAttempt:
    """POST the signed payload; the attempt (not saved) says how it went."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.signature_header(secret=secret, body=body),
        "Waypost-Event-Id": payload["id"],
        "Waypost-Event-Type": payload["type"],
    }
    started = time.perf_counter()
    attempt = WebhookAttempt()
    try:
        addresses.check_url(url)  # again: DNS may have changed since it was saved
        response = _pool().request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(
                connect=settings.HOOKS_TIMEOUT_SECONDS, read=settings.HOOKS_TIMEOUT_SECONDS
            ),
            redirect=False,
            preload_content=False,
        )
        attempt.status_code = response.status
        attempt.response_excerpt = _excerpt(response)
    except addresses.AddressRefused as exc:
        attempt.error = f"refused: {exc}"[:300]
    except urllib3.exceptions.HTTPError as exc:
        attempt.error = f"{_failure_kind(exc)}: {exc}"[:300]
    attempt.latency_ms = round((time.perf_counter() - started) * 1000)
    return attempt


def _failure_kind(exc: Exception) -> str:
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # refused, unreachable
        return "ConnectionError"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "Timeout"
    return "ConnectionError"  # dropped, reset, bad TLS, a broken answer


def _excerpt(response: urllib3.BaseHTTPResponse) -> str:
    """The first KB of the answer. A longer one is not read on: its connection is closed
    rather than reused, so a receiver cannot make us download a large body."""
    try:
        head = response.read(EXCERPT_BYTES, decode_content=True)
        if response.read(1):
            response.close()
    finally:
        response.release_conn()
    text = head.decode("utf-8", errors="replace")
    return text.replace("\x00", "")[:EXCERPT_BYTES]  # PostgreSQL text holds no NUL


def _endpoint_failed(endpoint_id: int, attempt: WebhookAttempt) -> None:
    endpoint = (
        WebhookEndpoint.objects.select_for_update().select_related("merchant").get(pk=endpoint_id)
    )
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
