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
    TripSeriesInputSerializer,
    TripSeriesSerializer,
    TripUpdateSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.filters import IsoDateTimeFilter
from marketplace.core.permissions import IsCourier
from marketplace.lifecycle import cancelling, commuting, delivering, posting
from marketplace.trips import selectors
from marketplace.trips.models import Trip, TripSeries, TripStatus


class TripFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TripStatus.choices)
    series = django_filters.NumberFilter(field_name="series_id")
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

    @extend_schema(request=TripUpdateSerializer, responses=TripSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change a planned trip's times or room (an occurrence of a series changes alone)."""
        data = TripUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trip = commuting.trip_edit(
            trip=self.get_object(), actor=api_user(request), **data.validated_data
        )
        return Response(self.get_serializer(trip).data)

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


class TripSeriesViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[TripSeries]
):
    """A courier's recurring commutes. Occurrences are ordinary trips (`/trips/?series=<id>`):
    cancel one to skip that date, PATCH it to change that date alone."""

    permission_classes = [IsCourier]
    serializer_class = TripSeriesSerializer
    queryset = TripSeries.objects.none()  # for the schema generator

    def get_queryset(self) -> QuerySet[TripSeries]:
        if getattr(self, "swagger_fake_view", False):
            return TripSeries.objects.none()
        return selectors.trip_series_of_courier(courier=api_user(self.request))

    @extend_schema(request=TripSeriesInputSerializer, responses={201: TripSeriesSerializer})
    def create(self, request: Request) -> Response:
        data = TripSeriesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        series = commuting.trip_series_post(courier=api_user(request), **data.validated_data)
        return Response(self.get_serializer(series).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TripSeriesSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        """No more occurrences; planned ones without accepted parcels are cancelled."""
        series = commuting.trip_series_stop(series=self.get_object(), actor=api_user(request))
        return Response(self.get_serializer(series).data)

    @extend_schema(responses=TripSerializer(many=True))
    @action(detail=True, methods=["get"])
    def occurrences(self, request: Request, pk: str | None = None) -> Response:
        trips = self.get_object().occurrences.order_by("departure_earliest")
        page = self.paginate_queryset(trips)  # type: ignore[arg-type]
        return self.get_paginated_response(TripSerializer(page, many=True).data)
