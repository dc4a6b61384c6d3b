"""Payments API: the shipper pays for a parcel (and tips), the courier onboards for payouts."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.payments.serializers import (
    OnboardingLinkSerializer,
    PaymentSerializer,
    PaymentStartSerializer,
    PayoutsSerializer,
    TipInputSerializer,
    TipSerializer,
)
from marketplace.api.users import api_user
from marketplace.core.exceptions import NotFoundError
from marketplace.core.permissions import IsCourier, IsShipper
from marketplace.deliveries.selectors import delivery_of_parcel
from marketplace.lifecycle import paying
from marketplace.parcels.selectors import parcels_of_shipper
from marketplace.payments import payouts, tips
from marketplace.payments.models import ConnectedAccount
from marketplace.payments.selectors import payment_of_parcel, payouts_summary


class ParcelPaymentApi(APIView):
    """Pay for a draft parcel. Without `payment_method`/`card_token` the answer carries the
    `client_secret` for Stripe.js or the mobile SDK to confirm; then POST `.../payment/sync/`
    (webhooks also bring the result). Paying publishes the parcel."""

    permission_classes = [IsShipper]

    @extend_schema(responses=PaymentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        parcel = get_object_or_404(parcels_of_shipper(shipper=api_user(request)), pk=pk)
        payment = payment_of_parcel(parcel_id=parcel.pk)
        if payment is None:
            raise NotFoundError(gettext("This parcel has no payment yet."), code="no_payment")
        return Response(PaymentSerializer(payment).data)

    @extend_schema(request=PaymentStartSerializer, responses={201: PaymentSerializer})
    def post(self, request: Request, pk: int) -> Response:
        parcel = get_object_or_404(parcels_of_shipper(shipper=api_user(request)), pk=pk)
        data = PaymentStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = paying.payment_start(
            parcel=parcel, shipper=api_user(request), **data.validated_data
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class ParcelPaymentSyncApi(APIView):
    permission_classes = [IsShipper]

    @extend_schema(request=None, responses=PaymentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        parcel = get_object_or_404(parcels_of_shipper(shipper=api_user(request)), pk=pk)
        payment = payment_of_parcel(parcel_id=parcel.pk)
        if payment is None:
            raise NotFoundError(gettext("This parcel has no payment yet."), code="no_payment")
        paying.payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
        payment.refresh_from_db()
        return Response(PaymentSerializer(payment).data)


class ParcelTipApi(APIView):
    """Tip the courier after delivery; all of it goes to them."""

    permission_classes = [IsShipper]

    @extend_schema(request=TipInputSerializer, responses={201: TipSerializer})
    def post(self, request: Request, pk: int) -> Response:
        parcel = get_object_or_404(parcels_of_shipper(shipper=api_user(request)), pk=pk)
        delivery = delivery_of_parcel(parcel=parcel)
        if delivery is None:
            raise NotFoundError(gettext("No courier delivered this parcel."), code="no_delivery")
        data = TipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tip = tips.tip_start(delivery=delivery, shipper=api_user(request), **data.validated_data)
        return Response(TipSerializer(tip).data, status=status.HTTP_201_CREATED)


class PayoutsApi(APIView):
    """The courier's payouts: Stripe account state, money waiting and money sent."""

    permission_classes = [IsCourier]

    @extend_schema(responses=PayoutsSerializer)
    def get(self, request: Request) -> Response:
        account = ConnectedAccount.objects.filter(courier=api_user(request)).first()
        return Response(PayoutsSerializer(payouts_summary(api_user(request), account)).data)


class PayoutsOnboardingApi(APIView):
    """A Stripe-hosted onboarding link (the Express account is created on first use)."""

    permission_classes = [IsCourier]

    @extend_schema(request=None, responses=OnboardingLinkSerializer)
    def post(self, request: Request) -> Response:
        return Response({"url": payouts.connect_onboarding_link(courier=api_user(request))})
