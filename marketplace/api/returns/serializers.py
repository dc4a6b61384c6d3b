from __future__ import annotations

from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField, PointField
from marketplace.returns.models import ParcelReturn, ReturnReason
from marketplace.returns.services import MAX_PHOTOS, MAX_REASON_CHARS


class ReturnRequestSerializer(serializers.Serializer):
    """Why it goes back, with up to five photos (multipart `photos`), and optionally where to
    collect it and where it goes (the shipper's return address) and when."""

    reason_code = serializers.ChoiceField(choices=ReturnReason.choices)
    reason = serializers.CharField(
        max_length=MAX_REASON_CHARS, required=False, allow_blank=True, default=""
    )
    photos = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=MAX_PHOTOS, default=list
    )
    pickup_point = PointField(required=False)
    pickup_address = serializers.CharField(max_length=300, required=False)
    pickup_contact_name = serializers.CharField(max_length=150, required=False)
    pickup_contact_phone = serializers.CharField(max_length=32, required=False)


class ShipperReturnRequestSerializer(ReturnRequestSerializer):
    dropoff_point = PointField(required=False)
    dropoff_address = serializers.CharField(max_length=300, required=False)
    dropoff_contact_name = serializers.CharField(max_length=150, required=False)
    dropoff_contact_phone = serializers.CharField(max_length=32, required=False)
    pickup_window_start = DateTimeField(required=False)
    pickup_window_end = DateTimeField(required=False)
    delivery_window_start = DateTimeField(required=False)
    delivery_window_end = DateTimeField(required=False)


class SendBackSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_CHARS)


class RefuseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class ParcelReturnSerializer(serializers.ModelSerializer):
    """A return as its shipper (or an admin) sees it; `reverse` is the parcel going back (pay
    for it with POST /api/v1/parcels/<reverse>/payment/ when payments are on)."""

    reverse_status = serializers.CharField(source="reverse.status", read_only=True)
    reverse_price_total = serializers.IntegerField(source="reverse.price_total", read_only=True)
    currency = serializers.CharField(source="reverse.currency", read_only=True)
    photos = serializers.SerializerMethodField()

    class Meta:
        model = ParcelReturn
        fields = [
            "id",
            "original",
            "reverse",
            "reverse_status",
            "reverse_price_total",
            "currency",
            "status",
            "requested_by",
            "reason_code",
            "reason",
            "photos",
            "paid_by",
            "refusal_reason",
            "decided_at",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_photos(self, obj: ParcelReturn) -> list[str]:
        return [photo.image.url for photo in obj.photos.all()]


class PublicReturnSerializer(serializers.ModelSerializer):
    """What the recipient sees after asking: the decision, nothing about the shipper."""

    class Meta:
        model = ParcelReturn
        fields = ["id", "status", "reason_code", "refusal_reason", "created_at"]
        read_only_fields = fields
