"""Dates and times written the way GOV.UK letters write them.

GOV.UK style: "Thursday 7 January 2027" (no ordinal, no comma) and "5:30pm". Times are
shown in the service's local time zone, because that is the clock the reader lives by.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from intake.settings import get_settings


def local_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def format_date(d: date) -> str:
    """'Thursday 7 January 2027'."""
    if isinstance(d, datetime):
        d = to_local(d).date()
    return f"{d:%A} {d.day} {d:%B %Y}"


def format_time(t: datetime) -> str:
    """'5:30pm', '9am', '12pm' (midday) and '12am' (midnight), as GOV.UK writes times."""
    local = to_local(t)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{hour}{minutes}{suffix}"


def format_datetime(t: datetime) -> str:
    """'5:30pm on Wednesday 25 November 2026', in local time."""
    return f"{format_time(t)} on {format_date(to_local(t).date())}"


def to_local(t: datetime) -> datetime:
    """The moment in local time; a naive datetime is already local wall-clock time.

    That is the project's convention for timestamps without an offset (RULES.md section 3,
    as the deadline rules read them); the case store always hands back aware UTC.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        return t.replace(tzinfo=local_zone())
    return t.astimezone(local_zone())


def local_date(t: datetime) -> date:
    """The local calendar date of a moment: the 'date received' of RULES.md section 3."""
    return to_local(t).date()
