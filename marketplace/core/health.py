"""Health endpoints for load balancers and orchestrators, answered before any other middleware
(no host check, no https redirect, no session, auth or throttle):

- `GET /healthz`: the process answers (no I/O). Liveness.
- `GET /readyz`: the database, Redis and the Celery broker each answered within
  HEALTH_CHECK_TIMEOUT seconds: 200, or 503 naming the one that failed. Readiness.

Both answer JSON: {"status": "ok" | "fail", "checks": {name: "ok" | "<error>"}}.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection

LIVE_PATH = "/healthz"
READY_PATH = "/readyz"


def _database() -> None:
    timeout_ms = int(settings.HEALTH_CHECK_TIMEOUT * 1000)
    with connection.cursor() as cursor:
        # SET LOCAL needs a transaction: in autocommit, set it for this one statement's session
        # and put it back after.
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)])
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.execute("SELECT set_config('statement_timeout', '0', false)")


def _redis() -> None:
    url = settings.REDIS_URL or settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return  # no Redis in this deployment (RabbitMQ broker, in-memory layer)
    client = redis.Redis.from_url(
        url,
        socket_timeout=settings.HEALTH_CHECK_TIMEOUT,
        socket_connect_timeout=settings.HEALTH_CHECK_TIMEOUT,
    )
    try:
        client.ping()
    finally:
        client.close()


def _broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=settings.HEALTH_CHECK_TIMEOUT) as c:
        c.ensure_connection(max_retries=1, timeout=settings.HEALTH_CHECK_TIMEOUT)


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "broker": _broker}


def readiness() -> tuple[bool, dict[str, str], dict[str, float]]:
    """(all ok, each check's "ok" or its error, each check's seconds)."""
    results: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure is the answer, not an error of ours
            results[name] = f"{type(exc).__name__}: {exc}"[:300]
        seconds[name] = round(time.perf_counter() - started, 4)
    return all(v == "ok" for v in results.values()), results, seconds


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers the two paths itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        if path == LIVE_PATH:
            return _answer(request, True, {"process": "ok"})
        if path == READY_PATH:
            ok, checks, seconds = readiness()
            return _answer(request, ok, checks, seconds)
        return self.get_response(request)


def _answer(
    request: HttpRequest, ok: bool, checks: dict[str, str], seconds: dict[str, float] | None = None
) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"error": {"code": "method_not_allowed", "message": "GET only."}})
        response.status_code = 405
        response["Allow"] = "GET, HEAD"
        return response
    body: dict[str, object] = {"status": "ok" if ok else "fail", "checks": checks}
    if seconds is not None:
        body["seconds"] = seconds
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response
