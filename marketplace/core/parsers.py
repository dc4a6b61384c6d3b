"""The API's JSON parser: DRF's, with the nesting bound of `core.json_input` (a body nested
thousands of levels deep is a 400, not a RecursionError)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

from marketplace.core.json_input import JSONInputError, loads_bounded


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            return loads_bounded(
                text, parse_constant=strict_constant if api_settings.STRICT_JSON else None
            )
        except (JSONInputError, UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


# Views that take uploads (photos, signatures) as well as JSON, in the order they always listed.
WITH_UPLOADS = [BoundedJSONParser, MultiPartParser, FormParser]
