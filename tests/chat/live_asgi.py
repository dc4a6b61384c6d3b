"""The ASGI app as the browser test serves it with uvicorn in a subprocess: static files and
uploaded media too (DEBUG is off), and the channel-layer prefix of the test that started it
(CHAT_LAYER_PREFIX)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.views.static import serve

from config.asgi import application as site

settings.CHANNEL_LAYERS = {
    "default": {
        **settings.CHANNEL_LAYERS["default"],
        "CONFIG": {
            **settings.CHANNEL_LAYERS["default"].get("CONFIG", {}),
            "prefix": os.environ.get("CHAT_LAYER_PREFIX", "asgi"),
        },
    }
}


class MediaFilesHandler(ASGIStaticFilesHandler):
    def get_base_url(self) -> str:
        return settings.MEDIA_URL

    def serve(self, request):  # type: ignore[no-untyped-def]
        return serve(request, self.file_path(request.path), document_root=settings.MEDIA_ROOT)


application = MediaFilesHandler(ASGIStaticFilesHandler(site))
