from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField

MAX_ID = 2**63 - 1


class MessageSerializer(serializers.Serializer):
    """A message as clients see it (built by selectors.message_data: contacts masked unless the
    shipper shares them). `image_url` is a path on this site."""

    id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    sender_name = serializers.CharField()
    sender_role = serializers.CharField(help_text='"shipper", "courier" or "support" (staff).')
    body = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)
    created_at = DateTimeField()

    def to_representation(self, instance: Any) -> Any:
        return instance  # already the dict every client gets


class MessageInputSerializer(serializers.Serializer):
    """JSON `{"body": "..."}`, or multipart with `body` and/or `image`. Length, image type and
    size are checked by the service (the same rules as on the WebSocket)."""

    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    image = serializers.FileField(required=False, allow_null=True, default=None)


class HistoryQuerySerializer(serializers.Serializer):
    since_id = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ID,
        help_text="Only messages after this id, oldest first (catching up after a reconnect).",
    )
    before_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only messages before this id, newest first (loading earlier history).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since_id" in attrs and "before_id" in attrs:
            raise serializers.ValidationError(gettext("Give since_id or before_id, not both."))
        return attrs


class ReadInputSerializer(serializers.Serializer):
    message_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class ReadOutputSerializer(serializers.Serializer):
    last_read_message_id = serializers.IntegerField()


class ConversationInputSerializer(serializers.Serializer):
    share_contacts = serializers.BooleanField()


class ConversationSerializer(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    parcel_id = serializers.IntegerField()
    shipper_id = serializers.IntegerField()
    courier_id = serializers.IntegerField()
    role = serializers.CharField(help_text='Yours: "shipper", "courier" or "support" (staff).')
    can_post = serializers.BooleanField()
    closed = serializers.BooleanField()
    disputed = serializers.BooleanField()
    closes_at = DateTimeField(allow_null=True)
    share_contacts = serializers.BooleanField()
    last_read_message_id = serializers.IntegerField()
    read_by = serializers.DictField(
        child=serializers.IntegerField(), help_text="User id -> last message id they read."
    )
    unread = serializers.IntegerField()
