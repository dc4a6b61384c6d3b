"""Query-string filters that refuse (400) what the database could not take: times outside the
range of core.datetimes (and offsets beyond ±14:00), numbers beyond what a column holds."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend

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


# Query parameters that never reach a FilterSet: pagination, ordering, the renderer's format.
NOT_FILTERS = frozenset({"page", "page_size", "ordering", "format"})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, but a request that filters nothing (no query parameter beyond
    NOT_FILTERS) keeps its queryset as it is: the FilterSet would build and validate a form to
    change nothing (a tenth of a 20-row parcel list's time). A FilterSet with a required
    filter still runs, so its 400 stays."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        if NOT_FILTERS.issuperset(request.query_params):
            filterset_class = self.get_filterset_class(view, queryset)
            if filterset_class is None or not any(
                f.extra.get("required") for f in filterset_class.base_filters.values()
            ):
                return queryset
        return super().filter_queryset(request, queryset, view)
