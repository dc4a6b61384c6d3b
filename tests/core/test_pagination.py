"""The API's paginator reads a page and the total in one query, and answers as Django's does."""

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator

from marketplace.accounts.models import User
from marketplace.core.pagination import OneQueryPaginator
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def users():
    UserFactory.create_batch(7)
    return User.objects.order_by("email")


@pytest.mark.parametrize("per_page", [1, 3, 7, 20])
def test_every_page_and_total_match_djangos_paginator(users, per_page):
    ours, django = OneQueryPaginator(users, per_page), Paginator(users, per_page)
    for number in django.page_range:
        page, expected = ours.page(number), django.page(number)
        assert [u.pk for u in page] == [u.pk for u in expected]
        assert (ours.count, ours.num_pages) == (django.count, django.num_pages)
        assert (page.has_next(), page.has_previous()) == (
            expected.has_next(),
            expected.has_previous(),
        )


def test_a_page_is_one_query(users, django_assert_num_queries):
    paginator = OneQueryPaginator(users.filter(email__contains="@"), 3)
    with django_assert_num_queries(1):
        page = paginator.page(2)
        assert len(page) == 3
        assert paginator.count == 7
        assert page.has_next()


def test_bad_and_past_the_end_pages_are_refused_as_django_refuses_them(users):
    paginator = OneQueryPaginator(users, 3)
    with pytest.raises(EmptyPage):
        paginator.page(4)
    with pytest.raises(EmptyPage):
        paginator.page(0)
    with pytest.raises(PageNotAnInteger):
        paginator.page("two")
    with pytest.raises(PageNotAnInteger):
        paginator.page(1.5)


def test_an_empty_list_has_an_empty_first_page():
    paginator = OneQueryPaginator(User.objects.none().order_by("email"), 5)
    page = paginator.page(1)
    assert list(page) == []
    assert paginator.count == 0


def test_distinct_lists_are_counted_by_django(users, django_assert_num_queries):
    # COUNT(*) OVER () is taken before DISTINCT: such lists fall back to COUNT(*) and the rows
    distinct = User.objects.filter(is_active=True).distinct().order_by("email")
    paginator = OneQueryPaginator(distinct, 3)
    with django_assert_num_queries(2):
        assert len(paginator.page(3)) == 1
    assert paginator.count == 7
