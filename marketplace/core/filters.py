"""Query-string filters that refuse (400) what the database could not take: times outside the
range of core.datetimes (and offsets beyond ±14:00), numbers beyond what a column holds."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from marketplace.core.datetimes import datetime_problem


class _BoundedIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is not None and (problem := datetime_problem(parsed)):
            raise forms.ValidationError(problem, code="out_of_range")
        return parsed


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _BoundedIsoDateTimeField


class IntegerFilter(django_filters.NumberFilter):
    """A whole number between 0 and 2**31 - 1 (an integer column's range)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 2**31 - 1)
        super().__init__(*args, **kwargs)
