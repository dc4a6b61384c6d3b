"""Webhook endpoints of the key's merchant and mode: CRUD, a test event, the delivery log,
redelivery. Reference: docs/webhooks.md."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.api.hooks.serializers import DeliverySerializer, EndpointSerializer
from marketplace.api.merchants.authentication import (
    MerchantKeyView,
    request_key,
    request_merchant,
)
from marketplace.hooks import selectors, services
from marketplace.hooks.models import WebhookDelivery, WebhookEndpoint


def _mode(request: Request) -> str:
    key = request_key(request)
    assert key is not None
    return key.mode


class EndpointViewSet(MerchantKeyView, viewsets.ModelViewSet[WebhookEndpoint]):
    serializer_class = EndpointSerializer
    queryset = WebhookEndpoint.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.endpoints_of(
            merchant=request_merchant(self.request), mode=_mode(self.request)
        )

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.endpoint_create(
            merchant=request_merchant(self.request),
            mode=_mode(self.request),
            **serializer.validated_data,
        )

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.endpoint_update(
            endpoint=serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a `webhook.test` event to this endpoint now."""
        delivery = services.test_event_send(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=EndpointSerializer)
    @action(detail=True, methods=["post"], url_path="roll-secret")
    def roll_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = services.endpoint_roll_secret(endpoint=self.get_object())
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """The endpoint's delivery log, newest first, each with its attempts."""
        rows = selectors.deliveries_of(endpoint=self.get_object())
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(
        detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/redeliver"
    )
    def redeliver(self, request: Request, pk: str | None = None, delivery_id: str = "") -> Response:
        endpoint = self.get_object()
        delivery = get_object_or_404(WebhookDelivery, pk=int(delivery_id), endpoint=endpoint)
        delivery = services.redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
