"""The range of times we accept from outside. Python takes years 1 to 9999 and UTC offsets up to
a day; PostgreSQL refuses offsets beyond 15:59 and arithmetic near year 9999 overflows. No time
a marketplace deals in lies outside these bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# The widest offsets in use on Earth: UTC-12:00 (Baker Island) to UTC+14:00 (Kiribati).
MAX_OFFSET = timedelta(hours=14)


def datetime_problem(value: datetime) -> str | None:
    """Why a time given to us cannot be taken, or None. A naive value is checked as UTC."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        return gettext("The UTC offset must lie between -14:00 and +14:00.")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        return gettext("Times must lie between %(EARLIEST)s and %(LATEST)s.") % {
            "EARLIEST": format(EARLIEST, "%Y-%m-%d"),
            "LATEST": format(LATEST, "%Y-%m-%d"),
        }
    return None
