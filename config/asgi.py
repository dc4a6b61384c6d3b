"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Served by uvicorn (`make run`, docker-compose). WebSocket routes are added by the apps that own
them (chat, tracking); each is wrapped in an origin check and the session/JWT auth middleware.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.websocket_urls import websocket_urlpatterns  # noqa: E402
from marketplace.core.websocket import websocket_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)
