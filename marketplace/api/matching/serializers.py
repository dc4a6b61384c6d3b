from rest_framework import serializers

from marketplace.api.parcels.serializers import CourierParcelSerializer
from marketplace.core.api_fields import DateTimeField
from marketplace.matching.engine import Fit
from marketplace.matching.models import Offer


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
        ]
        read_only_fields = fields


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
