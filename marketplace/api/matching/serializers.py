from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.api.parcels.serializers import CourierParcelSerializer
from marketplace.core.api_fields import DateTimeField
from marketplace.matching.engine import Fit
from marketplace.matching.models import Offer, OfferBundle, OfferStatus


class OfferSerializer(serializers.ModelSerializer):
    """An offer as its courier sees it: the parcel's areas, not its addresses."""

    parcel = CourierParcelSerializer(read_only=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "status",
            "parcel",
            "trip",
            "rank",
            "detour_m",
            "pickup_position_m",
            "dropoff_position_m",
            "predicted_pickup_at",
            "predicted_dropoff_at",
            "expires_at",
            "responded_at",
            "created_at",
            "bundle",
        ]
        read_only_fields = fields


class BundleStopSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["pickup", "dropoff"])
    parcel_id = serializers.IntegerField()
    position_m = serializers.IntegerField(help_text="Metres along the trip's route.")
    predicted_at = DateTimeField()


class BundleSerializer(serializers.ModelSerializer):
    """Parcels offered together for one trip, and their stops in route order (a drop-off
    before a pickup at the same point)."""

    offers = serializers.SerializerMethodField()
    stops = serializers.SerializerMethodField()

    class Meta:
        model = OfferBundle
        fields = ["id", "trip", "offers", "stops", "created_at"]
        read_only_fields = fields

    def _offers(self, bundle: OfferBundle) -> list[Offer]:
        return list(bundle.offers.select_related("parcel").order_by("parcel_id"))

    @extend_schema_field(OfferSerializer(many=True))
    def get_offers(self, bundle: OfferBundle) -> list[dict[str, Any]]:
        return OfferSerializer(self._offers(bundle), many=True).data  # type: ignore[return-value]

    @extend_schema_field(BundleStopSerializer(many=True))
    def get_stops(self, bundle: OfferBundle) -> list[dict[str, Any]]:
        stops = []
        for offer in self._offers(bundle):
            if offer.status != OfferStatus.PENDING:
                continue
            stops.append(
                (offer.pickup_position_m, 1, "pickup", offer.parcel_id, offer.predicted_pickup_at)
            )
            stops.append(
                (
                    offer.dropoff_position_m,
                    0,
                    "dropoff",
                    offer.parcel_id,
                    offer.predicted_dropoff_at,
                )
            )
        rows = [
            {"kind": kind, "parcel_id": parcel_id, "position_m": at, "predicted_at": when}
            for at, _, kind, parcel_id, when in sorted(stops)
        ]
        return BundleStopSerializer(rows, many=True).data  # type: ignore[return-value]


class FitSerializer(serializers.Serializer):
    trip_id = serializers.IntegerField()
    parcel_id = serializers.IntegerField()
    courier_id = serializers.IntegerField()
    detour_m = serializers.IntegerField()
    pickup_position_m = serializers.IntegerField()
    dropoff_position_m = serializers.IntegerField()
    pickup_offset_m = serializers.FloatField()
    dropoff_offset_m = serializers.FloatField()
    predicted_pickup_at = DateTimeField()
    predicted_dropoff_at = DateTimeField()


class ParcelAlongTripSerializer(serializers.Serializer):
    """A parcel that fits the courier's trip, with the engine's estimates (areas only)."""

    parcel = CourierParcelSerializer()
    fit = FitSerializer()

    @staticmethod
    def pair(parcel: object, fit: Fit) -> dict[str, object]:
        return {"parcel": parcel, "fit": fit}
