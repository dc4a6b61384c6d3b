"""The API's router: object ids in paths are integers, so `/parcels/abc/` and
`/courier/offers/1e2/decline/` are 404s before any view turns them into numbers."""

from __future__ import annotations

from typing import Any

from rest_framework.routers import SimpleRouter

# Up to 18 digits: every bigint id, and nothing that overflows one.
ID_PATTERN = "[0-9]{1,18}"


class IdRouter(SimpleRouter):
    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        pattern = getattr(viewset, "lookup_value_regex", ID_PATTERN)
        return f"(?P<{lookup_prefix}{kwarg}>{pattern})"
