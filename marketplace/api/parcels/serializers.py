from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.core.api_fields import POINT_SCHEMA, DateTimeField, PointField
from marketplace.core.geo import approximate
from marketplace.core.serializers import BuiltOnceFieldsMixin
from marketplace.core.sizes import SizeClass
from marketplace.parcels.delivery_input import DeliveryOptionsSerializer
from marketplace.parcels.models import Parcel, ParcelEvent
from marketplace.parcels.options import OPTION_FIELDS, option_labels

WINDOW_FIELDS = [
    "pickup_window_start",
    "pickup_window_end",
    "delivery_window_start",
    "delivery_window_end",
]


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class OptionLabelsField(serializers.ReadOnlyField):
    """The delivery options in words ("Leave at the door (photo)", "ID check: 18+", ...)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, value: Any) -> list[str]:
        return option_labels(value)


class LimitedImageField(serializers.ImageField):
    def to_internal_value(self, data: Any) -> Any:
        size = getattr(data, "size", None)
        if size is not None and size > settings.MAX_UPLOAD_BYTES:
            limit = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
            raise serializers.ValidationError(
                gettext("The photo may be at most %(limit)s MB.") % {"limit": format(limit, "g")}
            )
        return super().to_internal_value(data)


class ParcelInputSerializer(DeliveryOptionsSerializer):
    """What a shipper sends to create or edit a parcel (JSON, or multipart with a photo)."""

    description = serializers.CharField(max_length=200)
    size_class = serializers.ChoiceField(choices=SizeClass.choices)
    weight_grams = serializers.IntegerField(min_value=1)
    declared_value = serializers.IntegerField(min_value=0, help_text="Minor units.")
    photo = LimitedImageField(required=False, allow_null=True)
    pickup_point = PointField()
    pickup_address = serializers.CharField(max_length=300)
    pickup_contact_name = serializers.CharField(max_length=150)
    pickup_contact_phone = serializers.CharField(max_length=32)
    pickup_window_start = DateTimeField()
    pickup_window_end = DateTimeField()
    dropoff_point = PointField()
    dropoff_address = serializers.CharField(max_length=300)
    dropoff_contact_name = serializers.CharField(max_length=150)
    dropoff_contact_phone = serializers.CharField(max_length=32)
    delivery_window_start = DateTimeField()
    delivery_window_end = DateTimeField()
    publish = serializers.BooleanField(
        default=True, write_only=True, help_text="False keeps it as a draft."
    )


class ParcelEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ParcelEvent
        fields = ["from_status", "to_status", "note", "created_at"]


class ParcelSerializer(BuiltOnceFieldsMixin, serializers.ModelSerializer):
    """The shipper's (owner's) full view of a parcel."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }

    pickup_point = PointField()
    dropoff_point = PointField()
    dimensions_cm = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    options = OptionLabelsField()

    class Meta:
        model = Parcel
        fields = [
            "id",
            "status",
            "description",
            "size_class",
            "dimensions_cm",
            "weight_grams",
            "declared_value",
            "photo",
            "pickup_point",
            "pickup_address",
            "pickup_contact_name",
            "pickup_contact_phone",
            *WINDOW_FIELDS[:2],
            "dropoff_point",
            "dropoff_address",
            "dropoff_contact_name",
            "dropoff_contact_phone",
            *WINDOW_FIELDS[2:],
            "currency",
            "distance_m",
            "price_total",
            "platform_fee",
            "courier_share",
            *OPTION_FIELDS,
            "options",
            "is_editable",
            "is_return",
            "published_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field(POINT_SCHEMA)
class ApproximatePointField(serializers.Field):
    """A point snapped to a ~500 m grid: shows the area, not the address."""

    def to_representation(self, value: Any) -> dict[str, Any]:
        point = approximate(value)
        return {"type": "Point", "coordinates": [point.x, point.y]}


class CourierParcelSerializer(serializers.ModelSerializer):
    """What a courier sees of a parcel that is not assigned to them: no addresses, no contacts,
    no declared value, only the approximate areas."""

    pickup_area = ApproximatePointField(source="pickup_point")
    dropoff_area = ApproximatePointField(source="dropoff_point")
    options = OptionLabelsField()

    class Meta:
        model = Parcel
        fields = [
            "id",
            "status",
            "is_return",
            "description",
            "size_class",
            "weight_grams",
            "pickup_area",
            "dropoff_area",
            *WINDOW_FIELDS,
            "currency",
            "distance_m",
            "courier_share",
            "options",
        ]
        read_only_fields = fields


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class QuoteInputSerializer(serializers.Serializer):
    pickup_point = PointField()
    dropoff_point = PointField()
    size_class = serializers.ChoiceField(choices=SizeClass.choices)
    weight_grams = serializers.IntegerField(min_value=1, max_value=200_000)
    delivery_window_end = DateTimeField()


class QuoteSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Send as quote_id when creating the delivery.")
    expires_at = DateTimeField(help_text="The price holds until then.")
    currency = serializers.CharField()
    distance_m = serializers.IntegerField()
    size_factor = serializers.DecimalField(max_digits=4, decimal_places=2)
    urgency_factor = serializers.DecimalField(max_digits=4, decimal_places=2)
    price_total = serializers.IntegerField()
    platform_fee = serializers.IntegerField()
    courier_share = serializers.IntegerField()
    valid_until = DateTimeField()


class ParcelRulesSerializer(serializers.Serializer):
    prohibited_items = serializers.ListField(child=serializers.CharField())
    declaration_required = serializers.BooleanField()
    cover_limit = serializers.IntegerField(help_text="Minor units of `currency`.")
    currency = serializers.CharField()
