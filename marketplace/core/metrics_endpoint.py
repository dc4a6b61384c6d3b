"""`GET /metrics` for Prometheus, answered right after the health checks (no host check, no
https redirect, no session, auth or throttle), to scrapers that may see it:

- a request bearing `Authorization: Bearer <METRICS_TOKEN>` (when the setting is set), or
- a request straight from an address in METRICS_ALLOWED_NETWORKS (default: loopback) that did
  not come through a proxy (no X-Forwarded-For: behind a local proxy every visitor would look
  like loopback, so proxied scrapers need the token).

Anyone else gets 403. The page holds this process's metrics, or every process's of this host when
PROMETHEUS_MULTIPROC_DIR is set.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from marketplace.core.metrics import registry

METRICS_PATH = "/metrics"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    return any(address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


class MetricsMiddleware:
    """Second in MIDDLEWARE, after the health checks: answers /metrics itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") != METRICS_PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            refused = _error(405, "method_not_allowed", "GET only.")
            refused["Allow"] = "GET, HEAD"
            return refused
        if not metrics_allowed(request):
            return _error(
                403,
                "metrics_forbidden",
                "Send Authorization: Bearer <METRICS_TOKEN>, or scrape from an address in"
                " METRICS_ALLOWED_NETWORKS without a proxy.",
            )
        response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response
