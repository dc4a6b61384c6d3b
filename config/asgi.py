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
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

from config.websocket_urls import websocket_urlpatterns  # noqa: E402
from marketplace.core.websocket import websocket_stack  # noqa: E402


def close_request_connections(**kwargs: object) -> None:
    """Close the database connections of an HTTP request as it ends. Under ASGI each request
    runs in a context of its own, with connections of its own: one kept open for CONN_MAX_AGE
    is never used again, yet stays open until it is garbage-collected (dozens of idle ones
    under load, until PostgreSQL refuses clients: "too many clients already"). Django's docs
    say to disable persistent connections under ASGI; this does it for requests only, so
    CONN_MAX_AGE still serves the threads that keep theirs (the tracking ping writers). With
    the connection pool (DATABASE_POOL, the default) closing hands the connection back to it."""
    connections.close_all()


request_finished.connect(close_request_connections, sender=ASGIHandler)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)
