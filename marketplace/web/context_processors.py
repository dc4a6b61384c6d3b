from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "MAP_CONFIG": {
            "tileUrl": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "center": settings.MAP_DEFAULT_CENTER,
            "zoom": settings.MAP_DEFAULT_ZOOM,
        },
    }
