"""The API's page-number pagination, reading a page and the list's total in one query."""

from __future__ import annotations

from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable
from rest_framework.pagination import PageNumberPagination

TOTAL = "_paginator_total"


def _countable(object_list: Any) -> bool:
    """Whether COUNT(*) OVER () beside each row counts what QuerySet.count() would: plain model
    rows, not distinct, grouped, combined or already sliced ones."""
    if not isinstance(object_list, QuerySet) or object_list._iterable_class is not ModelIterable:
        return False
    query = object_list.query
    return not (query.distinct or query.combinator or query.is_sliced or query.group_by)


class OneQueryPaginator(Paginator):
    """Django's paginator, but a queryset's page carries the list's total: each row is read
    with COUNT(*) OVER (), which PostgreSQL takes before LIMIT, so a page costs one query
    instead of COUNT(*) and then the rows. A page without rows (past the end, an empty list,
    a bad number) is left to Django's paginator, which counts and answers as it always does."""

    def page(self, number: Any) -> Page:
        if self.orphans or not _countable(self.object_list):
            return super().page(number)
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            return super().page(number)
        if wanted < 1 or (isinstance(number, float) and not number.is_integer()):
            return super().page(number)
        bottom = (wanted - 1) * self.per_page
        queryset = cast(QuerySet[Any], self.object_list)
        counted = queryset.annotate(**{TOTAL: Window(Count("*"))})
        rows = list(counted[bottom : bottom + self.per_page])
        if not rows:
            return super().page(number)
        self.__dict__["count"] = getattr(rows[0], TOTAL)  # Paginator.count is a cached_property
        return self._get_page(rows, wanted, self)  # type: ignore[attr-defined]


class DefaultPagination(PageNumberPagination):
    django_paginator_class = OneQueryPaginator
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
