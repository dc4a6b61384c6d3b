"""Serializer pieces the API's apps share."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers


class BuiltOnceFieldsMixin:
    """A ModelSerializer that builds its fields from the model once per class, not once per
    request: DRF inspects the model and builds every field on each instantiation (a fifth of
    a 20-row parcel list's time). Each instance gets new fields built from the arguments of
    the first ones (`_rebuilt`). Only for serializers whose fields do not depend on the
    instance or the request's context."""

    _built_fields: dict[str, serializers.Field]

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        if "_built_fields" not in cls.__dict__:
            cls._built_fields = super().get_fields()  # type: ignore[misc]
        return {name: _rebuilt(field) for name, field in cls._built_fields.items()}


def _copied(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, serializers.Field) else value


def _rebuilt(field: serializers.Field) -> serializers.Field:
    """A new field from the arguments `field` was built with, as DRF's own deep copy does,
    but sharing the arguments that are not fields (choices, model fields, validators): no
    field changes them, and deep-copying them cost more than building the fields afresh."""
    args = [_copied(arg) for arg in field._args]  # type: ignore[attr-defined]
    kwargs = {key: _copied(value) for key, value in field._kwargs.items()}  # type: ignore[attr-defined]
    return type(field)(*args, **kwargs)
