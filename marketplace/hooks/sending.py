"""Sending one webhook delivery: signed POST, the attempt logged, success or the next try with
exponential back-off, and an endpoint that keeps failing disabled (its owner e-mailed once).

A delivery is leased to its sender (`leased_until`) while it is sent, so two tasks never send it
at once, and no transaction stays open during the POST; a worker that dies mid-send leaves it
pending, and once the lease has passed the sweep sends it again: at least once, each with the
event's id for the receiver to drop repeats. A parcel's events reach an endpoint
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
from django.utils.translation import gettext

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
LEASE_MARGIN_SECONDS = 5
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


def lease_length() -> timedelta:
    """How long a claimed delivery is left to its sender: the POST's connect and read
    timeouts, and a margin. A sender that died is replaced once it has passed."""
    return timedelta(seconds=2 * settings.HOOKS_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)


# The hot path of every webhook is two single statements, each its own short transaction, and
# the POST between them, during which no transaction is open (docs/webhooks.md, "Delivery and
# retries"). CLAIM_SQL leases the delivery to this sender if it is pending, due (or forced), not
# leased to another sender, its endpoint active, and no earlier event of its parcel is still
# pending for the same endpoint (none for an event of no parcel: NULL matches nothing); it
# returns all the send needs. FINISH_SQL logs the attempt and moves the delivery, if the lease
# is still this sender's. Both turn synchronous_commit off for themselves: a lease or a log
# lost in a database crash means one more send (at least once, as always), never a lost event.
CLAIM_SQL = """
UPDATE {delivery} d SET leased_until = %(lease)s
FROM {event} ev, {endpoint} e
WHERE d.id = %(id)s AND ev.id = d.event_id AND e.id = d.endpoint_id
  AND d.status = %(pending)s AND e.is_active
  AND (d.leased_until IS NULL OR d.leased_until <= %(now)s)
  AND (%(force)s OR d.next_attempt_at <= %(now)s)
  AND NOT EXISTS (
      SELECT 1 FROM {delivery} p JOIN {event} pe ON pe.id = p.event_id
      WHERE p.endpoint_id = d.endpoint_id AND p.status = %(pending)s
        AND pe.parcel_id = ev.parcel_id AND pe.sequence < ev.sequence
  )
RETURNING d.created_at, d.attempts, d.next_attempt_at, e.id, e.url, e.secret,
          e.consecutive_failures, ev.payload, set_config('synchronous_commit', 'off', true)
"""
FINISH_SQL = """
WITH attempt AS (
    INSERT INTO {attempt} (delivery_id, created_at, status_code, latency_ms, response_excerpt,
                           error)
    VALUES (%(id)s, %(now)s, %(code)s, %(latency)s, %(excerpt)s, %(error)s)
)
UPDATE {delivery}
SET status = %(status)s, attempts = attempts + 1, last_status_code = %(code)s,
    delivered_at = %(delivered_at)s, next_attempt_at = %(next)s, leased_until = NULL,
    updated_at = %(now)s
WHERE id = %(id)s AND leased_until = %(lease)s
RETURNING set_config('synchronous_commit', 'off', true)
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
    """A delivery leased to this sender and what sending it needs (CLAIM_SQL's row)."""

    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    endpoint_id: int
    url: str
    secret: str
    endpoint_failures: int
    payload: dict[str, Any]


def _claim(delivery_id: int, *, now: datetime, lease: datetime, force: bool) -> _Claimed | None:
    with connection.cursor() as cursor:
        cursor.execute(
            CLAIM_SQL.format(**_tables()),
            {
                "id": delivery_id,
                "now": now,
                "lease": lease,
                "force": force,
                "pending": str(DeliveryStatus.PENDING),
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    payload = row[7]
    return _Claimed(
        created_at=row[0],
        attempts=row[1],
        next_attempt_at=row[2],
        endpoint_id=row[3],
        url=row[4],
        secret=row[5],
        endpoint_failures=row[6],
        payload=json.loads(payload) if isinstance(payload, str) else payload,
    )


def _not_claimed(delivery_id: int, *, now: datetime, force: bool) -> str:
    """Why CLAIM_SQL left the delivery alone; one that waits is looked at again later."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    if delivery.leased_until is not None and delivery.leased_until > now:
        return "busy"
    if not force and delivery.next_attempt_at > now:
        return "not due"
    if not delivery.endpoint.is_active:
        _postpone(delivery_id, now + timedelta(hours=1))
        return "endpoint disabled"
    _postpone(delivery_id, now + ORDER_WAIT)
    return "waiting for an earlier event"


def _postpone(delivery_id: int, until: datetime) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=until, updated_at=timezone.now()
    )


def deliver(delivery_id: int, *, force: bool = False, now: datetime | None = None) -> str:
    """Send the delivery if it is pending and due (or `force`); returns what happened."""
    now = now or timezone.now()
    lease = now + lease_length()
    claimed = _claim(delivery_id, now=now, lease=lease, force=force)
    if claimed is None:
        return _not_claimed(delivery_id, now=now, force=force)
    attempt = _post(url=claimed.url, secret=claimed.secret, payload=claimed.payload)
    if attempt.status_code is not None and 200 <= attempt.status_code < 300:
        if claimed.endpoint_failures:
            WebhookEndpoint.objects.filter(pk=claimed.endpoint_id).update(consecutive_failures=0)
        _finish(delivery_id, attempt, now=now, lease=lease, status=DeliveryStatus.SUCCEEDED)
        return DeliveryStatus.SUCCEEDED
    given_up = (now - claimed.created_at).total_seconds() > settings.HOOKS_RETRY_HOURS * 3600
    status = DeliveryStatus.GAVE_UP if given_up else DeliveryStatus.PENDING
    with transaction.atomic():  # the endpoint's count of failures moves with the log
        _endpoint_failed(claimed.endpoint_id, attempt)
        _finish(
            delivery_id,
            attempt,
            now=now,
            lease=lease,
            status=status,
            next_attempt_at=claimed.next_attempt_at
            if given_up
            else now + backoff(claimed.attempts + 1),
        )
    return status


def _finish(
    delivery_id: int,
    attempt: WebhookAttempt,
    *,
    now: datetime,
    lease: datetime,
    status: str,
    next_attempt_at: datetime | None = None,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            FINISH_SQL.format(**_tables()),
            {
                "id": delivery_id,
                "now": now,
                "lease": lease,
                "code": attempt.status_code,
                "latency": attempt.latency_ms,
                "excerpt": attempt.response_excerpt,
                "error": attempt.error,
                "status": status,
                "delivered_at": now if status == DeliveryStatus.SUCCEEDED else None,
                "next": next_attempt_at or now,
            },
        )


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
    """What the log calls a failed POST: "Timeout" for one that took too long, else
    "ConnectionError" (refused, unreachable, dropped, reset, bad TLS, a broken answer).
    urllib3 makes a refused connection a subclass of its timeouts, hence its own test."""
    timed_out = isinstance(exc, urllib3.exceptions.TimeoutError)
    refused = isinstance(exc, urllib3.exceptions.NewConnectionError)
    return "Timeout" if timed_out and not refused else "ConnectionError"


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
                subject=gettext("Your webhook endpoint %(url)s was disabled")
                % {"url": endpoint.url},
                message=gettext(
                    "We stopped sending events to %(url)s: %(reason)s.\n"
                    "Fix it, then re-enable the endpoint; the events kept meanwhile are sent then."
                )
                % {"url": endpoint.url, "reason": endpoint.disabled_reason},
                from_email=None,
                recipient_list=[merchant.contact_email],
            )
        )
        log.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    endpoint.save()
