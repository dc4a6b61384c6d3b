"""Trips API: a courier's own trips. Other users' trips are 404."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.api.trips.serializers import (
    TripCancelSerializer,
    TripEventSerializer,
    TripInputSerializer,
    TripSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.filters import IsoDateTimeFilter
from marketplace.core.permissions import IsCourier
from marketplace.lifecycle import cancelling, delivering, posting
from marketplace.trips import selectors
from marketplace.trips.models import Trip, TripStatus


class TripFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TripStatus.choices)
    departs_after = IsoDateTimeFilter(field_name="departure_earliest", lookup_expr="gte")
    departs_before = IsoDateTimeFilter(field_name="departure_earliest", lookup_expr="lt")

    class Meta:
        model = Trip
        fields = ["status"]


class TripViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Trip]):
    permission_classes = [IsCourier]
    serializer_class = TripSerializer
    filterset_class = TripFilter
    ordering_fields = ["departure_earliest", "created_at"]

    queryset = Trip.objects.none()  # for the schema generator; real rows come from selectors

    def get_queryset(self) -> QuerySet[Trip]:
        if getattr(self, "swagger_fake_view", False):
            return Trip.objects.none()
        return selectors.trips_of_courier(courier=api_user(self.request))

    @extend_schema(request=TripInputSerializer, responses={201: TripSerializer})
    def create(self, request: Request) -> Response:
        data = TripInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trip = posting.trip_create(courier=api_user(request), **data.validated_data)
        return Response(self.get_serializer(trip).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TripSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        trip = delivering.trip_start(trip=self.get_object(), actor=api_user(request))
        return Response(self.get_serializer(trip).data)

    @extend_schema(request=None, responses=TripSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        trip = delivering.trip_complete(trip=self.get_object(), actor=api_user(request))
        return Response(self.get_serializer(trip).data)

    @extend_schema(request=TripCancelSerializer, responses=TripSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        data = TripCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trip = cancelling.trip_cancel(
            trip=self.get_object(), actor=api_user(request), reason=data.validated_data["reason"]
        )
        return Response(self.get_serializer(trip).data)

    @extend_schema(responses=TripEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def events(self, request: Request, pk: str | None = None) -> Response:
        return Response(TripEventSerializer(self.get_object().events.all(), many=True).data)
