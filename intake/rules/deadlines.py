"""Deadlines for a case: which rule applies, and the dates it gives (RULES.md 3, 4, 8).

The rule is chosen by regime, intent and the received date (Europe/London); the periods
come from the rule book, so every date carries its rule id, the rule book version and the
paragraph of the published procedure it rests on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from intake.rules.rulebook import INTENTS, REGIMES, Period, RuleBook, TimeLimit, get_rulebook
from intake.rules.working_days import add_calendar_days, add_months, add_working_days

__all__ = [
    "EARLIEST",
    "INTENTS",
    "LATEST",
    "LONDON",
    "REGIMES",
    "Deadlines",
    "Milestone",
    "check_in_range",
    "compute_deadlines",
    "received_date",
]

LONDON = ZoneInfo("Europe/London")
# Dates outside this range are input errors, not complaints: refusing them keeps the date
# arithmetic (and the holiday tables) clear of year 9999.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


@dataclass(frozen=True)
class Milestone:
    """An internal staff reminder (not letter content), with the rule behind it."""

    kind: str
    due: date
    rule: str
    source: str


@dataclass(frozen=True)
class Deadlines:
    """Every date a case needs, each traceable to a rule id and a seed paragraph."""

    rule: str
    rule_version: str
    regime: str
    intent: str
    received_at: datetime
    acknowledge_by: date
    respond_by: date | datetime | None
    out_of_time: bool | None
    time_limit_ends: date | None
    sources: dict[str, str]
    milestones: tuple[Milestone, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The CLI contract's fields: dates ISO, a 48-hour deadline ISO with its offset."""
        respond = self.respond_by.isoformat() if self.respond_by is not None else None
        limit = self.time_limit_ends.isoformat() if self.time_limit_ends else None
        return {
            "acknowledge_by": self.acknowledge_by.isoformat(),
            "respond_by": respond,
            "out_of_time": self.out_of_time,
            "time_limit_ends": limit,
            "rule": self.rule,
        }


def _as_london(received_at: datetime) -> datetime:
    """An aware timestamp; a naive one is London wall-clock time (RULES.md section 3)."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        return received_at.replace(tzinfo=LONDON)
    return received_at


def received_date(received_at: datetime) -> date:
    """The Europe/London date of a timestamp; a naive timestamp is already London time."""
    return _as_london(received_at).astimezone(LONDON).date()


def _count(kind: str, amount: int, start: date, closures: Collection[date]) -> date:
    if kind == "working_days":
        return add_working_days(start, amount, closures)
    if kind == "calendar_days":
        return add_calendar_days(start, amount)
    if kind == "months":
        return add_months(start, amount)
    raise ValueError(f"period kind {kind!r} does not give a date")


def _acknowledge_by(period: Period, day: date, closures: Collection[date]) -> date:
    if period.kind == "received":
        return day
    return _count(period.kind, period.amount or 0, day, closures)


def _respond_by(period: Period, at: datetime, day: date,
                closures: Collection[date]) -> date | datetime | None:
    """A date, or for ``hours`` a timestamp written with the input's own UTC offset.

    Hours are elapsed time (RULES.md section 3: "48 hours runs from the received
    timestamp"), so they are added in UTC: over a clock change the London wall-clock time
    moves by an hour, and the result keeps the offset the message arrived with (section 8).
    """
    if period.kind == "none":
        return None
    if period.kind == "received":
        return day
    if period.kind == "hours":
        offset = timezone(at.utcoffset() or timedelta(0))
        return (at.astimezone(UTC) + timedelta(hours=period.amount or 0)).astimezone(offset)
    return _count(period.kind, period.amount or 0, day, closures)


def _time_limit_ends(limit: TimeLimit, published: date, closures: Collection[date]) -> date:
    """The last day a complaint is in time; not rolled forward past a weekend (section 8)."""
    return _count(limit.kind, limit.amount, published, closures)


def check_in_range(field: str, day: date) -> None:
    """Raise ValueError naming ``field`` when ``day`` is outside the supported range."""
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{field}: {day.isoformat()} is outside the supported range "
                         f"{EARLIEST.isoformat()} to {LATEST.isoformat()}")


def _check_names(regime: str, intent: str) -> None:
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r} (expected one of: {', '.join(REGIMES)})")
    if intent not in INTENTS:
        raise ValueError(f"unknown intent {intent!r} (expected one of: {', '.join(INTENTS)})")


def compute_deadlines(*, regime: str, intent: str, received_at: datetime,
                      published: date | None = None, rulebook: RuleBook | None = None,
                      aspects: Collection[str] | None = None) -> Deadlines:
    """Deadlines for a message of ``intent`` under ``regime`` received at ``received_at``.

    ``published`` is the report's publication date (for ``jar`` the final report's issue)
    when the message states it; without it ``out_of_time`` is null. ``aspects`` only
    filters internal milestones (JTAI's apply to process and judgement complaints); None
    means not known, and keeps them all. Raises ValueError naming an unknown regime or
    intent, or a received or published date outside EARLIEST..LATEST.
    """
    _check_names(regime, intent)
    at = _as_london(received_at)
    try:
        day = received_date(at)
    except OverflowError:  # year 1 or 9999 shifted across midnight by its offset
        raise ValueError(f"received_at: {received_at.isoformat()} is outside the supported "
                         f"range {EARLIEST.isoformat()} to {LATEST.isoformat()}") from None
    check_in_range("received_at", day)
    if published is not None:
        check_in_range("published", published)
    book = rulebook if rulebook is not None else get_rulebook()
    regime_id, regime_rule = book.regime_rule(regime, day)
    rule_id, rule = book.intent_rule(intent, regime, day) or (regime_id, regime_rule)
    closures = book.closures
    sources = {"acknowledge_by": rule.acknowledge.source, "respond_by": rule.respond.source}

    limit = (rule.time_limit or regime_rule.time_limit) if book.intents[intent].out_of_time \
        else None
    time_limit_ends = out_of_time = None
    if limit is not None:
        sources["time_limit_ends"] = sources["out_of_time"] = limit.source
        if published is not None:
            time_limit_ends = _time_limit_ends(limit, published, closures)
            out_of_time = day > time_limit_ends

    wanted = frozenset(aspects) if aspects is not None else None
    milestones = tuple(sorted(
        (Milestone(kind=name, due=_count(spec.kind, spec.amount, day, closures),
                   rule=rule_id, source=spec.source)
         for name, spec in rule.milestones.items() if spec.applies_to(wanted)),
        key=lambda m: (m.due, m.kind),
    ))
    return Deadlines(
        rule=rule_id,
        rule_version=book.version,
        regime=regime,
        intent=intent,
        received_at=at,
        acknowledge_by=_acknowledge_by(rule.acknowledge, day, closures),
        respond_by=_respond_by(rule.respond, at, day, closures),
        out_of_time=out_of_time,
        time_limit_ends=time_limit_ends,
        sources=sources,
        milestones=milestones,
    )
