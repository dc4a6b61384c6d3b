"""What the merchant API answers (requests are parcels.delivery_input.DeliveryInputSerializer)."""

from __future__ import annotations

from rest_framework import serializers

from marketplace.api.parcels.serializers import ParcelSerializer
from marketplace.core.api_fields import PointField
from marketplace.merchants.models import KeyMode, KeyScope, MerchantApiKey, PickupLocation
from marketplace.parcels.models import Parcel
from marketplace.parcels.options import OPTION_FIELDS

DELIVERY_FIELDS = [
    "merchant",
    "external_reference",
    "is_test",
    "sandbox_outcome",
    *OPTION_FIELDS,
]


class MerchantDeliverySerializer(ParcelSerializer):
    """A merchant's delivery: the parcel as its shipper sees it, with the merchant's fields."""

    quote_id = serializers.SerializerMethodField()

    class Meta(ParcelSerializer.Meta):
        model = Parcel
        fields = [*ParcelSerializer.Meta.fields, *DELIVERY_FIELDS, "quote_id"]
        read_only_fields = fields

    def get_quote_id(self, parcel: Parcel) -> str | None:
        held = getattr(parcel, "held_quote", None)
        return str(held.pk) if held else None


class BulkRowResultSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "invalid"])
    id = serializers.IntegerField(required=False)
    code = serializers.CharField(required=False)
    # Documents the reply only (never validated), so shadowing Serializer.errors is harmless.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    invalid = serializers.IntegerField()
    results = BulkRowResultSerializer(many=True)


class PickupLocationSerializer(serializers.ModelSerializer):
    point = PointField()

    class Meta:
        model = PickupLocation
        fields = ["id", "name", "point", "address", "contact_name", "contact_phone", "is_active"]
        read_only_fields = ["id", "is_active"]


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = MerchantApiKey
        fields = ["prefix", "name", "scope", "mode", "created", "last_used_at", "revoked"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    scope = serializers.ChoiceField(choices=KeyScope.choices, default=KeyScope.WRITE)
    mode = serializers.ChoiceField(choices=KeyMode.choices, default=KeyMode.LIVE)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The full key: shown this once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
