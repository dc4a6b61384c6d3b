"""Waypost's own Prometheus metrics (docs/production.md, "Metrics"). django-prometheus adds
the request, database-free ones (`django_http_*`); this module holds the business counters and
histograms and Celery's task metrics (fed by log_context's task handlers), all named `waypost_*`.

Counters of state changes count at commit (`count_on_commit`): a change rolled back was never
made. Under several processes (uvicorn `--workers`, Celery's prefork pool) set
PROMETHEUS_MULTIPROC_DIR to an empty directory shared by a host's processes, so one scrape sums
them all; the WebSocket gauge then sums the live processes' connections.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import signals
from django.conf import settings
from django.db import transaction
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

PARCEL_STATUS_CHANGES = Counter(
    "waypost_parcel_status_changes",
    "Parcels moved to a status (open: posted for couriers, matched, delivered, ...).",
    ["to_status"],
)
PARCELS_CREATED = Counter("waypost_parcels_created", "Parcels created (drafts included).")
OFFERS = Counter(
    "waypost_offers",
    "Offers to couriers, by what happened: made, accepted, declined, expired.",
    ["event"],
)
MATCHING_SECONDS = Histogram(
    "waypost_matching_seconds",
    "One engine query: the trips a parcel fits, or the parcels a trip fits.",
    ["direction"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
STRIPE_WEBHOOK_LAG_SECONDS = Histogram(
    "waypost_stripe_webhook_lag_seconds",
    "From a Stripe event's arrival to the end of its processing.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0),
)
PINGS = Counter(
    "waypost_pings",
    "Courier position pings received, by result: stored or rejected.",
    ["result"],
)
WEBSOCKETS = Gauge(
    "waypost_websocket_connections",
    "WebSocket connections open now, by consumer.",
    ["consumer"],
    multiprocess_mode="livesum",
)
CELERY_TASKS = Counter(
    "waypost_celery_tasks",
    "Celery tasks run, by task and final state (SUCCESS, FAILURE, RETRY, ...).",
    ["task", "state"],
)
CELERY_TASK_SECONDS = Histogram(
    "waypost_celery_task_seconds",
    "How long a Celery task ran.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def count_on_commit(counter: Counter, amount: float = 1, **labels: str) -> None:
    """Add `amount` to the counter once the current transaction commits (at once outside one)."""
    if amount <= 0:
        return
    child = counter.labels(**labels) if labels else counter
    transaction.on_commit(lambda: child.inc(amount))


@contextmanager
def observe_seconds(histogram: Histogram, **labels: str) -> Iterator[None]:
    """`with observe_seconds(HISTOGRAM, label=...):` observes the block's wall-clock time."""
    child = histogram.labels(**labels) if labels else histogram
    started = time.perf_counter()
    try:
        yield
    finally:
        child.observe(time.perf_counter() - started)


def task_finished(*, task: str, state: str | None, seconds: float | None) -> None:
    """A Celery task ran (called by log_context's task_postrun handler, which times it)."""
    CELERY_TASKS.labels(task=task, state=state or "UNKNOWN").inc()
    if seconds is not None:
        CELERY_TASK_SECONDS.labels(task=task).observe(seconds)


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's metrics of this host in multiprocess mode, else
    this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return REGISTRY


@signals.worker_init.connect
def _serve_worker_metrics(**_: Any) -> WSGIServer | None:
    """A Celery worker's main process serves its pool's metrics on CELERY_METRICS_PORT; the
    server (its thread is a daemon, gone with the process), or None when no port is set."""
    if not settings.CELERY_METRICS_PORT:
        return None
    server, _thread = start_http_server(
        settings.CELERY_METRICS_PORT,
        addr=settings.CELERY_METRICS_ADDRESS,
        registry=registry(),
    )
    return server
