"""Working-day and calendar arithmetic for deadlines (RULES.md section 3).

A working day is Monday to Friday and not an England and Wales bank holiday. Bank holidays
come from the ``holidays`` package (country ``GB``, subdivision ``ENG``), which knows the
substitute days and one-off days such as 19 Sep 2022 and 8 May 2023; nothing here is a
hand-written holiday list. ``closures`` adds days the office is shut that the package does
not know yet (a newly announced one-off bank holiday), taken from the rules file.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection
from datetime import date, timedelta
from functools import lru_cache

import holidays

NO_CLOSURES: frozenset[date] = frozenset()


@lru_cache(maxsize=512)
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays in ``year``; cached because deadlines ask often."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(d: date, closures: Collection[date] = NO_CLOSURES) -> bool:
    """Monday to Friday, not a bank holiday in England and not an extra closure day."""
    return d.weekday() < 5 and d not in bank_holidays(d.year) and d not in closures


def add_working_days(d: date, n: int, closures: Collection[date] = NO_CLOSURES) -> date:
    """The date ``n`` working days after ``d``.

    ``d`` is day 0 whether or not it is a working day: step forward one day at a time,
    counting only working days, until ``n`` are counted (RULES.md section 3, e.g. Fri
    2026-12-18 + 5 = Tue 2026-12-29 over Christmas). ``n = 0`` gives ``d`` itself.
    """
    if n < 0:
        raise ValueError(f"working days must be >= 0, got {n}")
    current, counted = d, 0
    while counted < n:
        current += timedelta(days=1)
        if is_working_day(current, closures):
            counted += 1
    return current


def add_calendar_days(d: date, n: int) -> date:
    """``n`` calendar days after ``d``; weekends and holidays count and nothing rolls."""
    return d + timedelta(days=n)


def add_months(d: date, n: int) -> date:
    """The same day of the month ``n`` months later, clamped to that month's last day.

    31 Jan + 1 month is 28 Feb (29 Feb in a leap year), not 3 March.
    """
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last))


def working_days_between(start: date, end: date, closures: Collection[date] = NO_CLOSURES) -> int:
    """Working days after ``start`` up to and including ``end``; negative when end < start.

    The inverse of :func:`add_working_days`: ``working_days_between(d, add_working_days(d,
    n)) == n``. Reminders use it to say how many working days are left.
    """
    if end < start:
        return -working_days_between(end, start, closures)
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, closures):
            count += 1
    return count
