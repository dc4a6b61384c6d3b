from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from marketplace.api.parcels.serializers import LimitedImageField, OptionLabelsField
from marketplace.core.api_fields import DateTimeField, PointField
from marketplace.deliveries.models import Delivery, DeliveryEvent
from marketplace.parcels.models import Parcel

DELIVERY_FIELDS = [
    "id",
    "status",
    "trip",
    "detour_m",
    "pickup_position_m",
    "dropoff_position_m",
    "predicted_pickup_at",
    "predicted_dropoff_at",
    "co2_saved_grams",
    "picked_up_at",
    "delivered_at",
    "failure_reason",
    "failed_attempts",
    "left_at_door",
    "id_checked_at",
    "cancelled_by",
    "created_at",
]


class AssignedParcelSerializer(serializers.ModelSerializer):
    """The parcel as its assigned courier sees it: exact places and contacts."""

    pickup_point = PointField()
    dropoff_point = PointField()
    options = OptionLabelsField()

    class Meta:
        model = Parcel
        fields = [
            "id",
            "status",
            "description",
            "size_class",
            "weight_grams",
            "pickup_point",
            "pickup_address",
            "pickup_contact_name",
            "pickup_contact_phone",
            "pickup_window_start",
            "pickup_window_end",
            "dropoff_point",
            "dropoff_address",
            "dropoff_contact_name",
            "dropoff_contact_phone",
            "delivery_window_start",
            "delivery_window_end",
            "currency",
            "courier_share",
            "leave_at_door",
            "signature_required",
            "pin_required",
            "minimum_age",
            "fragile",
            "options",
        ]
        read_only_fields = fields


class CourierDeliverySerializer(serializers.ModelSerializer):
    """The courier's view: never the codes (the shipper and recipient hold them)."""

    parcel = AssignedParcelSerializer(read_only=True)

    class Meta:
        model = Delivery
        fields = [*DELIVERY_FIELDS, "parcel"]
        read_only_fields = fields


class ShipperDeliverySerializer(serializers.ModelSerializer):
    """The shipper's view: who carries the parcel, the codes to hand over, the estimates."""

    courier_name = serializers.CharField(source="courier.get_short_name", read_only=True)
    vehicle_type = serializers.CharField(source="trip.vehicle_type", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            *DELIVERY_FIELDS,
            "courier_name",
            "vehicle_type",
            "pickup_code",
            "delivery_code",
            "cancellation_fee",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Delivery) -> dict[str, object]:
        data = super().to_representation(instance)
        if not instance.is_active:  # a finished delivery's codes are of no use to anyone
            data["pickup_code"] = data["delivery_code"] = None
        return data


class DeliveryEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryEvent
        fields = ["from_status", "to_status", "note", "created_at"]


class CodeSerializer(serializers.Serializer):
    code = serializers.RegexField(
        r"^\s*\d{6}\s*$", error_messages={"invalid": gettext_lazy("Six digits.")}
    )


class DeliverSerializer(serializers.Serializer):
    """The proof of delivery: what is required follows the parcel's options (its `options`)."""

    code = serializers.RegexField(
        r"^\s*\d{6}\s*$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("Six digits.")},
        help_text="The recipient's code; may be left out only for a parcel left at the door.",
    )
    photo = LimitedImageField(required=False, help_text="Required when left at the door.")
    signature = LimitedImageField(required=False, help_text="Required when the parcel asks.")
    id_checked = serializers.BooleanField(
        required=False, default=False, help_text="The recipient's ID shows the minimum age."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RatingInputSerializer(serializers.Serializer):
    stars = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RatingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stars = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = DateTimeField()


class ReissueSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["pickup", "delivery"])


class StopSerializer(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    parcel_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["pickup", "dropoff"])
    position_m = serializers.IntegerField()
    predicted_at = DateTimeField()
    address = serializers.CharField()
    contact_name = serializers.CharField()
    contact_phone = serializers.CharField()
    done = serializers.BooleanField()
