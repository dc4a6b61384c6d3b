"""Request bodies as an API client sends them: GeoJSON points and ISO 8601 datetimes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib.gis.geos import Point
from django.utils import timezone

from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG, POTSDAMER_PLATZ, geojson_point
from tests.factories.parcels import parcel_fields


def as_json(value: Any) -> Any:
    if isinstance(value, Point):
        return geojson_point(value.coords)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def parcel_payload(**overrides: Any) -> dict[str, Any]:
    """The fixed test parcel (tests.factories.parcels.parcel_fields) as a JSON body."""
    body = {name: as_json(value) for name, value in parcel_fields().items()}
    body.update({name: as_json(value) for name, value in overrides.items()})
    return body


def parcel_form(**overrides: Any) -> dict[str, Any]:
    """The same parcel as multipart form fields (GeoJSON points as JSON strings)."""
    body = parcel_payload(**overrides)
    return {
        name: json.dumps(value) if isinstance(value, dict) else value
        for name, value in body.items()
    }


def commute_coordinates() -> list[list[float]]:
    return [list(ALEXANDERPLATZ), list(POTSDAMER_PLATZ), list(CHARLOTTENBURG)]


def trip_payload(**overrides: Any) -> dict[str, Any]:
    """A trip along the fixed Berlin commute (GeoJSON route), leaving in one to two hours."""
    now = timezone.now()
    body: dict[str, Any] = {
        "route": {"type": "LineString", "coordinates": commute_coordinates()},
        "departure_earliest": (now + timedelta(hours=1)).isoformat(),
        "departure_latest": (now + timedelta(hours=2)).isoformat(),
    }
    body.update({name: as_json(value) for name, value in overrides.items()})
    return body


def assert_error(response: Any, status: int, *, code: str | None = None) -> dict[str, Any]:
    """The response has `status` and the one error body shape; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
