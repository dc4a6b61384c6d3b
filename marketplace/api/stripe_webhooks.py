"""Stripe's webhook endpoints (outside /api/v1/): verify, store once, answer fast; the event is
processed after commit by a task (`marketplace.lifecycle.stripe_webhooks`).

Two endpoints, each with its own secret: platform events and Connect events (which carry the
connected `account`)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from marketplace.lifecycle.stripe_webhooks import webhook_receive
from marketplace.payments.models import WebhookEndpoint
from marketplace.payments.webhooks import InvalidWebhookError


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is longer than STRIPE_WEBHOOK_MAX_BYTES: refused from its
    Content-Length before reading, and by reading one byte past the bound otherwise."""
    limit = settings.STRIPE_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _receive(request: HttpRequest, *, endpoint: str, secret: str) -> JsonResponse:
    body = _body(request)
    if body is None:
        limit = settings.STRIPE_WEBHOOK_MAX_BYTES
        return _error(
            "payload_too_large", f"A webhook body may be at most {limit} bytes.", status=413
        )
    try:
        stored = webhook_receive(
            body=body,
            signature=request.headers.get("Stripe-Signature"),
            endpoint=endpoint,
            secret=secret,
        )
    except InvalidWebhookError as exc:
        return _error(exc.code, exc.message, status=400)
    if not stored:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True})


@csrf_exempt
@require_POST
def platform_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(
        request, endpoint=WebhookEndpoint.PLATFORM, secret=settings.STRIPE_WEBHOOK_SECRET
    )


@csrf_exempt
@require_POST
def connect_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(
        request, endpoint=WebhookEndpoint.CONNECT, secret=settings.STRIPE_CONNECT_WEBHOOK_SECRET
    )


urlpatterns = [
    path("", platform_webhook, name="stripe-webhook"),
    path("connect/", connect_webhook, name="stripe-connect-webhook"),
]
