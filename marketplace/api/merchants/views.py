"""The merchant API (`/api/v1/merchant/`): deliveries (create one, in bulk, get, list, cancel)
and pickup locations with a merchant's API key; its keys with the owner's login.
Reference: docs/merchants.md."""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.api.merchants.authentication import (
    MerchantKeyView,
    request_key,
    request_merchant,
)
from marketplace.api.merchants.idempotent import HEADER, run_idempotent
from marketplace.api.merchants.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    BulkResultSerializer,
    MerchantDeliverySerializer,
    PickupLocationSerializer,
)
from marketplace.api.parcels.serializers import CancelSerializer
from marketplace.api.users import api_user
from marketplace.core.exceptions import ApplicationError
from marketplace.core.parsers import WITH_UPLOADS
from marketplace.lifecycle import ordering
from marketplace.merchants import services as merchants
from marketplace.merchants.models import MerchantApiKey, PickupLocation
from marketplace.parcels import selectors as parcel_selectors
from marketplace.parcels.delivery_input import CsvError, DeliveryInputSerializer, csv_rows
from marketplace.parcels.models import Parcel, ParcelStatus

IDEMPOTENCY = OpenApiParameter(
    HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Retries with the same key and body get the first reply (kept 24 h).",
)


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ParcelStatus.choices)
    external_reference = django_filters.CharFilter()

    class Meta:
        model = Parcel
        fields = ["status", "external_reference"]


class MerchantDeliveryViewSet(
    MerchantKeyView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Parcel],
):
    """The key's merchant's deliveries of the key's mode (test keys see test deliveries only)."""

    serializer_class = MerchantDeliverySerializer
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at"]
    queryset = Parcel.objects.none()

    def get_queryset(self) -> QuerySet[Parcel]:
        if getattr(self, "swagger_fake_view", False):
            return Parcel.objects.none()
        key = request_key(self.request)
        assert key is not None
        return parcel_selectors.parcels_of_merchant(
            merchant=key.merchant, is_test=key.is_test
        ).select_related("held_quote")

    @extend_schema(
        request=DeliveryInputSerializer,
        responses={201: MerchantDeliverySerializer},
        parameters=[IDEMPOTENCY],
    )
    def create(self, request: Request) -> Response:
        def handle() -> Response:
            data = DeliveryInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            parcel = ordering.merchant_delivery_create(
                merchant=request_merchant(request), is_test=_is_test(request), **data.validated_data
            )
            body = self.get_serializer(parcel).data
            return Response(body, status=status.HTTP_201_CREATED)

        return run_idempotent(self, request, handle)

    @extend_schema(
        request=CancelSerializer, responses=MerchantDeliverySerializer, parameters=[IDEMPOTENCY]
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        def handle() -> Response:
            data = CancelSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            parcel = ordering.merchant_delivery_cancel(
                merchant=request_merchant(request),
                is_test=_is_test(request),
                parcel_id=pk,
                reason=data.validated_data["reason"],
            )
            return Response(self.get_serializer(parcel).data)

        return run_idempotent(self, request, handle)

    @extend_schema(
        request={
            "application/json": DeliveryInputSerializer(many=True),
            "multipart/form-data": None,
        },
        responses={207: BulkResultSerializer},
        parameters=[IDEMPOTENCY],
    )
    @action(detail=False, methods=["post"], parser_classes=WITH_UPLOADS)
    def bulk(self, request: Request) -> Response:
        """Up to MERCHANT_BULK_MAX_ROWS deliveries: a JSON list, or a CSV file (multipart field
        `file`). Each row is created on its own; the reply (207) has one result per row."""

        def handle() -> Response:
            rows = _bulk_rows(request)
            results = ordering.merchant_delivery_rows_create(
                merchant=request_merchant(request), is_test=_is_test(request), rows=rows
            )
            created = sum(1 for r in results if r["status"] == "created")
            body = {"created": created, "invalid": len(results) - created, "results": results}
            return Response(body, status=status.HTTP_207_MULTI_STATUS)

        return run_idempotent(self, request, handle)


def _is_test(request: Request) -> bool:
    key = request_key(request)
    return bool(key and key.is_test)


def _bulk_rows(request: Request) -> list[Any]:
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            rows: Any = csv_rows(upload.read())
        except CsvError as exc:
            raise ApplicationError(
                str(exc), code="invalid_csv", fields={"file": [str(exc)]}
            ) from exc
    else:
        rows = request.data
    if not isinstance(rows, list) or not rows:
        raise ApplicationError(
            gettext("Send a JSON list of deliveries, or a CSV file in the field `file`."),
            code="invalid",
        )
    if len(rows) > settings.MERCHANT_BULK_MAX_ROWS:
        raise ApplicationError(
            gettext("At most %(MERCHANT_BULK_MAX_ROWS)s rows per request (%(len)s sent).")
            % {"MERCHANT_BULK_MAX_ROWS": settings.MERCHANT_BULK_MAX_ROWS, "len": len(rows)},
            code="too_many_rows",
        )
    return rows


class PickupLocationViewSet(MerchantKeyView, viewsets.ModelViewSet[PickupLocation]):
    """The merchant's stores and warehouses, reused by id (`pickup_location_id`)."""

    serializer_class = PickupLocationSerializer
    queryset = PickupLocation.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[PickupLocation]:
        if getattr(self, "swagger_fake_view", False):
            return PickupLocation.objects.none()
        return PickupLocation.objects.filter(
            merchant=request_merchant(self.request), is_active=True
        ).order_by("name", "pk")

    def perform_create(self, serializer: Any) -> None:
        location = merchants.pickup_location_create(
            merchant=request_merchant(self.request), **serializer.validated_data
        )
        serializer.instance = location

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = merchants.pickup_location_update(
            merchant=request_merchant(self.request),
            location_id=serializer.instance.pk,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: PickupLocation) -> None:
        merchants.pickup_location_delete(
            merchant=request_merchant(self.request), location_id=instance.pk
        )


class ApiKeyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[MerchantApiKey]):
    """My merchant's API keys (members list them; the owner creates and revokes). Signed in as a
    person (JWT or session), never with an API key."""

    serializer_class = ApiKeySerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "prefix"
    lookup_value_regex = "[A-Za-z0-9]{8}"
    queryset = MerchantApiKey.objects.none()
    pagination_class = None

    def get_queryset(self) -> QuerySet[MerchantApiKey]:
        if getattr(self, "swagger_fake_view", False):
            return MerchantApiKey.objects.none()
        member = merchants.membership_of(api_user(self.request))
        if member is None:
            return MerchantApiKey.objects.none()
        return MerchantApiKey.objects.filter(merchant=member.merchant).order_by("-created")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request) -> Response:
        member = merchants.require_owner(api_user(request))
        data = ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, text = merchants.api_key_create(
            merchant=member.merchant, created_by=api_user(request), **data.validated_data
        )
        body = {**ApiKeySerializer(key).data, "key": text}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, prefix: str | None = None) -> Response:
        member = merchants.require_owner(api_user(request))
        key = merchants.api_key_revoke(merchant=member.merchant, prefix=prefix or "")
        return Response(ApiKeySerializer(key).data)
