"""Photos users upload (chat pictures, return photos): checked and re-encoded before storage."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext
from PIL import Image, ImageOps

from marketplace.core.exceptions import ApplicationError

# What Pillow must find inside the file, and the extension we store it under.
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# A few-MB file can still unpack to a huge bitmap; phone photos are well below this.
MAX_IMAGE_PIXELS = 50_000_000


def _error(message: str, field: str, code: str = "invalid_image") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def clean_photo(image: Any, *, field: str) -> ContentFile[bytes]:
    """Check size first (before Pillow reads anything), then that Pillow finds a JPEG, PNG or
    WebP picture; re-encode it so what we store carries no metadata (phone photos hold GPS).
    Errors name `field`."""
    size = getattr(image, "size", None)
    if size is not None and size > settings.MAX_UPLOAD_BYTES:
        limit = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
        raise _error(
            gettext("A photo may be at most %(limit)s MB.") % {"limit": format(limit, "g")},
            field,
            code="image_too_large",
        )
    wrong_type = gettext("Send a photo as a JPEG, PNG or WebP image.")
    try:
        image.seek(0)
        with Image.open(image) as probe:
            kind = probe.format
            pixels = probe.width * probe.height
            probe.verify()
        if kind not in IMAGE_FORMATS:
            raise _error(wrong_type, field)
        if pixels > MAX_IMAGE_PIXELS:
            raise _error("That photo has too many pixels; send a smaller one.", field)
        image.seek(0)
        with Image.open(image) as picture:
            picture.load()
            clean = ImageOps.exif_transpose(picture)
            if kind == "JPEG" and clean.mode not in ("RGB", "L"):
                clean = clean.convert("RGB")
            out = io.BytesIO()
            options = {"quality": 90} if kind in ("JPEG", "WEBP") else {}
            clean.save(out, format=kind, **options)
    except ApplicationError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _error(wrong_type, field) from exc
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}{IMAGE_FORMATS[kind]}")
