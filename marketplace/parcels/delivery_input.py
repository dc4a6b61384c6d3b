"""What a merchant's system sends to create a delivery: one JSON object (the API), a JSON list
(bulk) or a CSV row (bulk and the web site's upload). Shared by the API and the lifecycle's bulk
task, so a row is checked the same way wherever it comes from (docs/merchants.md)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from marketplace.core.api_fields import DateTimeField, PointField
from marketplace.core.sizes import SizeClass
from marketplace.parcels.models import SandboxOutcome

PICKUP_FIELDS = ("pickup_point", "pickup_address", "pickup_contact_name", "pickup_contact_phone")
# CSV columns that are not field names: the points as two numbers each.
CSV_POINT_COLUMNS = {
    "pickup_point": ("pickup_lng", "pickup_lat"),
    "dropoff_point": ("dropoff_lng", "dropoff_lat"),
}
CSV_MAX_BYTES = 2 * 1024 * 1024


class DeliveryOptionsSerializer(serializers.Serializer):
    """The delivery options and the recipient, as every way of posting a parcel takes them
    (checked together in parcels.options)."""

    leave_at_door = serializers.BooleanField(
        required=False, help_text="No one needs to be in: the courier leaves it with a photo."
    )
    signature_required = serializers.BooleanField(required=False)
    pin_required = serializers.BooleanField(
        required=False, help_text="The recipient gives the delivery code (default true)."
    )
    minimum_age = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=99,
        help_text="The courier checks the recipient's ID.",
    )
    fragile = serializers.BooleanField(required=False)
    prohibited_items_declared = serializers.BooleanField(
        required=False,
        help_text="The parcel holds none of the prohibited items (GET /api/v1/parcel-rules/).",
    )
    recipient_email = serializers.EmailField(
        required=False, allow_blank=True, help_text="E-mailed the tracking link."
    )
    recipient_language = serializers.CharField(max_length=10, required=False, allow_blank=True)


class DeliveryInputSerializer(DeliveryOptionsSerializer):
    """A delivery: the parcel's fields, or a `pickup_location_id` instead of the pickup ones."""

    description = serializers.CharField(max_length=200)
    size_class = serializers.ChoiceField(choices=SizeClass.choices)
    weight_grams = serializers.IntegerField(min_value=1)
    declared_value = serializers.IntegerField(min_value=0, help_text="Minor units.")
    pickup_location_id = serializers.IntegerField(
        required=False, help_text="One of the merchant's pickup locations, instead of pickup_*."
    )
    pickup_point = PointField(required=False)
    pickup_address = serializers.CharField(max_length=300, required=False)
    pickup_contact_name = serializers.CharField(max_length=150, required=False)
    pickup_contact_phone = serializers.CharField(max_length=32, required=False)
    pickup_window_start = DateTimeField()
    pickup_window_end = DateTimeField()
    dropoff_point = PointField()
    dropoff_address = serializers.CharField(max_length=300)
    dropoff_contact_name = serializers.CharField(max_length=150)
    dropoff_contact_phone = serializers.CharField(max_length=32)
    delivery_window_start = DateTimeField()
    delivery_window_end = DateTimeField()
    external_reference = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="Your order number; unique."
    )
    quote_id = serializers.UUIDField(required=False, help_text="A quote from POST /quotes/.")
    sandbox_outcome = serializers.ChoiceField(
        choices=SandboxOutcome.choices,
        required=False,
        allow_blank=True,
        help_text="Test keys only: what the simulated courier does.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "pickup_location_id" not in attrs:
            missing = [name for name in PICKUP_FIELDS if name not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {
                        name: [gettext("Required unless pickup_location_id is given.")]
                        for name in missing
                    }
                )
        return attrs


def flat_errors(errors: Any) -> dict[str, list[str]]:
    """A serializer's errors as {field: [message, ...]}."""
    if not isinstance(errors, dict):
        return {"non_field_errors": [str(e) for e in errors]}
    out: dict[str, list[str]] = {}
    for name, value in errors.items():
        items = value if isinstance(value, list) else [value]
        out[str(name)] = [str(item) for item in items]
    return out


class CsvError(ValueError):
    pass


def csv_rows(data: bytes) -> list[dict[str, Any]]:
    """The rows of a CSV file (a header row of field names, UTF-8, comma separated) as the
    objects the JSON bulk endpoint takes: empty cells are left out, pickup_lng/pickup_lat and
    dropoff_lng/dropoff_lat become GeoJSON points."""
    if len(data) > CSV_MAX_BYTES:
        raise CsvError(f"The file may be at most {CSV_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError("The file is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise CsvError("The file has no header row.")
    rows = []
    try:
        for record in reader:
            rows.append(csv_row(record))
    except csv.Error as exc:
        raise CsvError(f"The file is not valid CSV: {exc}") from exc
    return rows


def csv_row(record: dict[str | None, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in record.items():
        if name is None or value is None:
            continue  # extra cells past the header
        value = str(value).strip()
        if value != "":
            row[name.strip()] = value
    for field, (lng, lat) in CSV_POINT_COLUMNS.items():
        if lng in row or lat in row:
            x, y = row.pop(lng, None), row.pop(lat, None)
            try:
                row[field] = {"type": "Point", "coordinates": [float(x or ""), float(y or "")]}
            except ValueError:
                row[field] = {"type": "Point", "coordinates": [x, y]}
    return row
