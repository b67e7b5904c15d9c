"""Working days (RULES.md section 3): weekends, every bank holiday type, clamped months."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.rules.working_days import (
    add_calendar_days,
    add_months,
    add_working_days,
    is_working_day,
    working_days_between,
)


def test_rules_example_crosses_christmas() -> None:
    # RULES.md section 3: Fri 2026-12-18 + 5 working days is Tue 2026-12-29.
    assert add_working_days(date(2026, 12, 18), 5) == date(2026, 12, 29)


@pytest.mark.parametrize("day", [date(2026, 11, 21), date(2026, 11, 22)])
def test_weekend_days_are_not_working_days(day: date) -> None:
    assert not is_working_day(day)


def test_weekdays_without_holidays_are_working_days() -> None:
    assert all(is_working_day(date(2026, 11, 23) + timedelta(days=i)) for i in range(5))


def test_day_zero_is_the_start_even_on_a_weekend() -> None:
    assert add_working_days(date(2026, 11, 21), 0) == date(2026, 11, 21)  # Saturday
    assert add_working_days(date(2026, 11, 21), 1) == date(2026, 11, 23)  # Monday
    assert add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="working days must be >= 0"):
        add_working_days(date(2026, 11, 20), -1)


# (holiday, the working day before it, the next working day after it)
BANK_HOLIDAYS = {
    "new_year_substitute_2022": (date(2022, 1, 3), date(2021, 12, 31), date(2022, 1, 4)),
    "new_year_substitute_2023": (date(2023, 1, 2), date(2022, 12, 30), date(2023, 1, 3)),
    "good_friday": (date(2026, 4, 3), date(2026, 4, 2), date(2026, 4, 7)),
    "easter_monday": (date(2026, 4, 6), date(2026, 4, 2), date(2026, 4, 7)),
    "early_may": (date(2026, 5, 4), date(2026, 5, 1), date(2026, 5, 5)),
    "early_may_moved_for_ve_day_2020": (date(2020, 5, 8), date(2020, 5, 7), date(2020, 5, 11)),
    "spring": (date(2026, 5, 25), date(2026, 5, 22), date(2026, 5, 26)),
    "summer": (date(2026, 8, 31), date(2026, 8, 28), date(2026, 9, 1)),
    "christmas": (date(2026, 12, 25), date(2026, 12, 24), date(2026, 12, 29)),
    "boxing_day_substitute": (date(2026, 12, 28), date(2026, 12, 24), date(2026, 12, 29)),
    "christmas_substitute": (date(2027, 12, 27), date(2027, 12, 24), date(2027, 12, 29)),
    "boxing_day_second_substitute": (date(2027, 12, 28), date(2027, 12, 24), date(2027, 12, 29)),
    "state_funeral_2022": (date(2022, 9, 19), date(2022, 9, 16), date(2022, 9, 20)),
    "coronation_2023": (date(2023, 5, 8), date(2023, 5, 5), date(2023, 5, 9)),
    "spring_moved_for_jubilee_2022": (date(2022, 6, 2), date(2022, 6, 1), date(2022, 6, 6)),
    "platinum_jubilee_2022": (date(2022, 6, 3), date(2022, 6, 1), date(2022, 6, 6)),
}


@pytest.mark.parametrize("name", sorted(BANK_HOLIDAYS))
def test_bank_holiday_is_skipped(name: str) -> None:
    holiday, before, after = BANK_HOLIDAYS[name]
    assert holiday.weekday() < 5, "the fixture must be a weekday holiday"
    assert not is_working_day(holiday)
    assert is_working_day(before) and is_working_day(after)
    assert add_working_days(before, 1) == after


def test_scottish_only_holiday_is_a_working_day_in_england() -> None:
    # 2 January is a bank holiday in Scotland only; England works (2026-01-02 is a Friday).
    assert is_working_day(date(2026, 1, 2))


def test_closure_day_is_not_a_working_day() -> None:
    closed = {date(2026, 11, 24)}
    assert not is_working_day(date(2026, 11, 24), closed)
    assert add_working_days(date(2026, 11, 23), 1, closed) == date(2026, 11, 25)


def test_calendar_days_count_weekends_and_do_not_roll() -> None:
    assert add_calendar_days(date(2026, 10, 1), 30) == date(2026, 10, 31)  # a Saturday


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 11, 18), 1, date(2026, 12, 18)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_working_days_between_counts_after_start_up_to_end() -> None:
    assert working_days_between(date(2026, 12, 18), date(2026, 12, 29)) == 5
    assert working_days_between(date(2026, 12, 29), date(2026, 12, 18)) == -5
    assert working_days_between(date(2026, 12, 25), date(2026, 12, 28)) == 0


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@settings(max_examples=150, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=300))
def test_result_is_a_working_day_and_strictly_increases(start: date, n: int) -> None:
    result = add_working_days(start, n)
    assert is_working_day(result)
    assert result > start
    assert add_working_days(start, n + 1) > result
    assert working_days_between(start, result) == n
