"""WebSocket routes. Each live feature (chat, tracking) appends its consumers here."""

from django.urls import URLPattern, path

from marketplace.chat.consumers import ChatConsumer
from marketplace.core.consumers import PingConsumer
from marketplace.notifications.consumers import NotificationConsumer
from marketplace.tracking.consumers import DeliveryTrackConsumer, PublicTrackConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/deliveries/<int:delivery_id>/chat/", ChatConsumer.as_asgi()),
    path("ws/deliveries/<int:delivery_id>/track/", DeliveryTrackConsumer.as_asgi()),
    path("ws/track/<slug:token>/", PublicTrackConsumer.as_asgi()),
]
