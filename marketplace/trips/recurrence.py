"""Recurring commutes: RFC 5545 rules (python-dateutil) read in the courier's time zone.

A rule says on which local dates a commute happens ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"); the
departure is the same local clock time on each of those dates, so it moves in UTC across
daylight-saving changes. A local time that does not exist on a date (the hour skipped in spring)
is moved forward by the gap; one that happens twice (the hour repeated in autumn) is the first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

# A commute repeats by day at most; hourly rules and rules that set the clock are refused (the
# departure time is its own field).
ALLOWED_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
REFUSED_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND", "DTSTART", "RDATE", "EXDATE")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A rule must give at least one date within this long of its start.
FIRST_DATE_WITHIN = timedelta(days=366)


class RecurrenceError(ValueError):
    """The rule or zone cannot be used; the message says why (shown to the courier)."""


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecurrenceError(f"Unknown time zone {name!r}; use an IANA name.") from exc


def weekly_rule(days: list[str]) -> str:
    """The rule for "these weekdays every week" (MO..SU)."""
    unknown = [day for day in days if day not in WEEKDAYS]
    if not days or unknown:
        raise RecurrenceError(f"Days must be some of {', '.join(WEEKDAYS)}.")
    ordered = sorted(set(days), key=WEEKDAYS.index)
    return "FREQ=WEEKLY;BYDAY=" + ",".join(ordered)


def parse_rule(text: str, *, starts_on: date) -> rrule:
    """The rule as dateutil reads it, anchored at `starts_on` (naive local dates)."""
    body = text.strip().upper().removeprefix("RRULE:")
    parts = dict(part.partition("=")[::2] for part in body.split(";") if part)
    if parts.get("FREQ") not in ALLOWED_FREQS:
        raise RecurrenceError(f"FREQ must be one of {', '.join(ALLOWED_FREQS)}.")
    refused = [name for name in REFUSED_PARTS if name in parts]
    if refused:
        raise RecurrenceError(f"{', '.join(refused)} may not be set here.")
    try:
        rule = rrulestr(body, dtstart=datetime.combine(starts_on, time()), cache=False)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"Not a valid RFC 5545 rule: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError("Send a single RRULE.")
    return rule


def rule_check(text: str, *, starts_on: date, until: date | None) -> str:
    """The rule, normalised, if it gives a date within a year of `starts_on` (and before
    `until`); else RecurrenceError."""
    rule = parse_rule(text, starts_on=starts_on)
    first = rule.after(datetime.combine(starts_on, time()), inc=True)
    limit = starts_on + FIRST_DATE_WITHIN
    if until is not None:
        limit = min(limit, until)
    if first is None or first.date() > limit:
        raise RecurrenceError("This rule gives no date in its first year (or before `until`).")
    return str(rule).split("\n")[-1].removeprefix("RRULE:")


def occurrence_dates(
    text: str, *, starts_on: date, until: date | None, start: date, end: date
) -> list[date]:
    """The local dates in [start, end] the rule gives (and within starts_on..until)."""
    start = max(start, starts_on)
    if until is not None:
        end = min(end, until)
    if end < start:
        return []
    rule = parse_rule(text, starts_on=starts_on)
    found = rule.between(datetime.combine(start, time()), datetime.combine(end, time()), inc=True)
    return [moment.date() for moment in found]


def local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` o'clock on `day` in `zone`, as an aware UTC datetime. zoneinfo's fold=0 gives the
    module's DST rules: a time in the spring gap reads with the offset before the change (so it
    lands the gap's length later on the clock), a repeated autumn time is its first instance."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
