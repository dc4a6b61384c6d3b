from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField


class PingInputSerializer(serializers.Serializer):
    """One ping as the device sends it. Documents the shape only: each ping is checked by
    tracking.services, and a refused one is reported by index instead of failing the batch."""

    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    accuracy_m = serializers.FloatField(min_value=0, help_text="Metres (68 % confidence).")
    at = DateTimeField(help_text="The device's time of the fix, with its offset.")
    speed_mps = serializers.FloatField(required=False, allow_null=True, min_value=0)
    heading_deg = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=360
    )


@extend_schema_field(PingInputSerializer(many=True))
class RawPingsField(serializers.ListField):
    child = serializers.JSONField()


class PingBatchSerializer(serializers.Serializer):
    pings = RawPingsField(help_text="In any order; oldest first is usual.")

    def validate_pings(self, value: list[Any]) -> list[Any]:
        if not value:
            raise serializers.ValidationError(gettext("Send at least one ping."))
        if len(value) > settings.TRACKING_MAX_BATCH:
            raise serializers.ValidationError(
                gettext("Send at most %(TRACKING_MAX_BATCH)s pings at a time.")
                % {"TRACKING_MAX_BATCH": settings.TRACKING_MAX_BATCH}
            )
        return value


class RejectedPingSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    reason = serializers.CharField()


class PingResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = RejectedPingSerializer(many=True)


class PositionSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    accuracy_m = serializers.FloatField()
    at = DateTimeField()
    eta = DateTimeField(allow_null=True)
    remaining_m = serializers.IntegerField(allow_null=True)


class DeliveryPositionSerializer(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    status = serializers.CharField()
    tracking = serializers.BooleanField(
        help_text="True between pickup and delivery: only then is a position shown."
    )
    position = PositionSerializer(allow_null=True)


class TrackingLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Share with the recipient: status, ETA and area only.")
    token = serializers.CharField()
