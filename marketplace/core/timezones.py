"""Local time: the operator's zone (settings.TIME_ZONE) and each person's own (User.time_zone).

Every page and form works in the viewer's zone (`TimeZoneMiddleware` activates it), e-mails and
notifications in their recipient's (`in_zone_of`); the API stays ISO 8601 with offsets. Zone
names are IANA's ("Europe/Berlin"), checked against the tz database Python ships with.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted (the legacy aliases such as "US/Pacific" included)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone we accept, or None."""
    if name in zone_names():
        return None
    return gettext(
        "'%(name)s' is not a time zone name; use an IANA name such as 'Europe/Berlin'."
    ) % {"name": name[:64]}


def zone_of(user: Any) -> zoneinfo.ZoneInfo:
    """The zone a person sees times in: their own, else the operator's."""
    name = getattr(user, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_clock(value: datetime, user: Any) -> str:
    """A time of day for `user`'s texts, in their zone and naming it: "14:05 CET"."""
    local = value.astimezone(zone_of(user))
    return f"{local:%H:%M} {local.tzname()}"


@contextmanager
def in_zone_of(user: Any) -> Iterator[zoneinfo.ZoneInfo]:
    """Compose a text for `user` (an e-mail, a push) with times in their zone."""
    zone = zone_of(user)
    with timezone.override(zone):
        yield zone


class TimeZoneMiddleware:
    """After AuthenticationMiddleware: the request runs in the signed-in person's zone (the
    operator's for everyone else)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        timezone.activate(zone_of(user if user is not None and user.is_authenticated else None))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
