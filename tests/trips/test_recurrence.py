"""Recurrence rules read in the courier's zone: DST changes, month ends, refusals."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from marketplace.trips.recurrence import (
    RecurrenceError,
    local_moment,
    occurrence_dates,
    rule_check,
    weekly_rule,
)

BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        (date(2027, 3, 27), datetime(2027, 3, 27, 7, 0, tzinfo=UTC)),  # CET, +1
        (date(2027, 3, 29), datetime(2027, 3, 29, 6, 0, tzinfo=UTC)),  # CEST, +2
        (date(2027, 10, 30), datetime(2027, 10, 30, 6, 0, tzinfo=UTC)),
        (date(2027, 11, 1), datetime(2027, 11, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_the_local_clock_time_holds_across_berlin_dst(day, expected_utc):
    moment = local_moment(day, time(8, 0), BERLIN)
    assert moment == expected_utc
    assert moment.astimezone(BERLIN).time() == time(8, 0)


def test_southern_hemisphere_changes_the_other_way():
    # Sydney leaves daylight saving on the first Sunday of April 2027 and starts it in October.
    before = local_moment(date(2027, 4, 3), time(7, 30), SYDNEY)
    after = local_moment(date(2027, 4, 5), time(7, 30), SYDNEY)
    assert before.utcoffset() == after.utcoffset()  # both UTC datetimes
    assert before.astimezone(SYDNEY).utcoffset().total_seconds() == 11 * 3600
    assert after.astimezone(SYDNEY).utcoffset().total_seconds() == 10 * 3600
    assert after.astimezone(SYDNEY).time() == time(7, 30)


def test_a_time_in_the_spring_gap_moves_forward_by_the_gap():
    # 02:30 does not exist in Berlin on 28 March 2027: it reads as 03:30 CEST.
    moment = local_moment(date(2027, 3, 28), time(2, 30), BERLIN)
    assert moment == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert moment.astimezone(BERLIN).time() == time(3, 30)


def test_a_repeated_autumn_time_is_its_first_instance():
    moment = local_moment(date(2027, 10, 31), time(2, 30), BERLIN)
    assert moment == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST, not CET


def test_weekdays_only():
    rule = weekly_rule(["FR", "MO", "WE", "MO"])
    assert rule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    days = occurrence_dates(
        rule, starts_on=date(2027, 3, 1), until=None, start=date(2027, 3, 1), end=date(2027, 3, 14)
    )
    assert days == [date(2027, 3, d) for d in (1, 3, 5, 8, 10, 12)]


def test_the_dates_do_not_shift_over_a_dst_change():
    rule = "FREQ=DAILY"
    days = occurrence_dates(
        rule,
        starts_on=date(2027, 3, 26),
        until=None,
        start=date(2027, 3, 26),
        end=date(2027, 3, 30),
    )
    assert days == [date(2027, 3, d) for d in range(26, 31)]


def test_month_ends():
    every_31st = occurrence_dates(
        "FREQ=MONTHLY;BYMONTHDAY=31",
        starts_on=date(2027, 1, 1),
        until=None,
        start=date(2027, 1, 1),
        end=date(2027, 6, 30),
    )
    # RFC 5545: a month without a 31st has no occurrence.
    assert every_31st == [date(2027, 1, 31), date(2027, 3, 31), date(2027, 5, 31)]
    last_day = occurrence_dates(
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        starts_on=date(2028, 1, 1),
        until=None,
        start=date(2028, 1, 1),
        end=date(2028, 4, 30),
    )
    assert last_day == [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]


def test_start_until_and_window_bound_the_dates():
    kwargs = {"starts_on": date(2027, 3, 3), "until": date(2027, 3, 5)}
    days = occurrence_dates("FREQ=DAILY", start=date(2027, 3, 1), end=date(2027, 3, 31), **kwargs)
    assert days == [date(2027, 3, 3), date(2027, 3, 4), date(2027, 3, 5)]
    assert (
        occurrence_dates("FREQ=DAILY", start=date(2027, 3, 6), end=date(2027, 3, 9), **kwargs) == []
    )


def test_count_limits_the_dates():
    days = occurrence_dates(
        "FREQ=WEEKLY;BYDAY=TU;COUNT=2",
        starts_on=date(2027, 3, 1),
        until=None,
        start=date(2027, 3, 1),
        end=date(2027, 4, 30),
    )
    assert days == [date(2027, 3, 2), date(2027, 3, 9)]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "FREQ must be"),
        ("FREQ=WEEKLY;BYHOUR=8", "BYHOUR"),
        ("FREQ=WEEKLY;BYDAY=XX", "Not a valid"),
        ("FREQ=WEEKLY;INTERVAL=abc", "Not a valid"),
        ("BYDAY=MO", "FREQ must be"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no date"),
        ("", "FREQ must be"),
    ],
)
def test_unusable_rules_are_refused_with_a_reason(rule, message):
    with pytest.raises(RecurrenceError, match=message):
        rule_check(rule, starts_on=date(2027, 1, 1), until=None)


def test_a_rule_with_no_date_before_until_is_refused():
    with pytest.raises(RecurrenceError, match="no date"):
        rule_check("FREQ=WEEKLY;BYDAY=SA", starts_on=date(2027, 3, 1), until=date(2027, 3, 5))


def test_rules_are_normalised():
    assert rule_check("rrule:freq=weekly;byday=mo", starts_on=date(2027, 1, 1), until=None) == (
        "FREQ=WEEKLY;BYDAY=MO"
    )
