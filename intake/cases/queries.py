"""Finding cases by what is due: for `/complaints`, the App Home and the daily digest.

A deadline counts while it is in force (not superseded), not met, and its case is open.
The time limit to complain is the complainant's date, not ours, so it is never "due". An
acknowledgement counts as done once the case's letter has left (queued, sent or printed);
only a held or failed one keeps ``acknowledge_by`` on the lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, func, or_, select
from sqlalchemy.orm import Session

from intake.cases.models import Case, Deadline, Letter
from intake.rules.rulebook import get_rulebook
from intake.rules.working_days import add_working_days

NOT_OURS = frozenset({"time_limit_ends"})
RESPONSE_KINDS = frozenset({"acknowledge_by", "respond_by"})
LETTER_GONE = frozenset({"queued", "sent", "printable", "bounced"})


@dataclass(frozen=True)
class DueItem:
    """One deadline of one open case."""

    case: Case
    deadline: Deadline

    @property
    def label(self) -> str:
        return self.deadline.kind.replace("_", " ")


@dataclass(frozen=True)
class DuePage:
    """The first rows of a list and how many the whole list has (for "…and N more")."""

    items: list[DueItem]
    total: int


def working_days_ahead(today: date, days: int) -> date:
    """The date ``days`` working days after ``today`` (holidays and closures skipped)."""
    return add_working_days(today, days, get_rulebook().closures)


def _unacknowledged() -> ColumnElement[bool]:
    """No acknowledgement of the deadline's case has left yet.

    Tested in SQL, so a list is one query rather than one more per case to load its
    letters. A scalar subquery with LIMIT 1 probes the letters' case index per listed row;
    as NOT EXISTS, PostgreSQL hashes every letter ever sent even for a short list.
    """
    gone = (select(Letter.id).where(Letter.case_id == Deadline.case_id,
                                    Letter.kind != "receipt", Letter.status.in_(LETTER_GONE))
            .limit(1).scalar_subquery())
    return gone.is_(None)


def _in_force() -> Select[tuple[Deadline, Case]]:
    """Deadlines in force and not met, of open cases; acknowledgements sent left out."""
    return (select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
            .where(Case.status != "closed", Deadline.superseded_at.is_(None),
                   Deadline.met_at.is_(None), Deadline.due_date.is_not(None),
                   Deadline.kind.not_in(NOT_OURS),
                   or_(Deadline.kind != "acknowledge_by", _unacknowledged())))


def _due_query(today: date, working_days: int) -> Select[tuple[Deadline, Case]]:
    return _in_force().where(Deadline.due_date >= today,
                             Deadline.due_date <= working_days_ahead(today, working_days))


def _overdue_query(today: date) -> Select[tuple[Deadline, Case]]:
    """Response dates before today. Internal milestones are prompts on their day (the
    reminder scheduler posts them); with nothing to mark them done, listing them as
    overdue for ever would bury the real ones.

    Driven from the open cases, which are few, rather than from every past deadline in
    history (``due_date < today`` on the date index walks all closed cases' deadlines).
    """
    open_cases = select(Case.id).where(Case.status != "closed")
    return _in_force().where(Deadline.case_id.in_(open_cases),
                             Deadline.kind.in_(RESPONSE_KINDS), Deadline.due_date < today)


def _ordered(query: Select[Any]) -> Select[Any]:
    return query.order_by(Deadline.due_date, Case.reference, Deadline.kind)


def due_statement(today: date, working_days: int) -> Select[tuple[Deadline, Case]]:
    """The statement behind :func:`due_within`, for query plans (bench/growth.py)."""
    return _ordered(_due_query(today, working_days))


def overdue_statement(today: date) -> Select[tuple[Deadline, Case]]:
    """The statement behind :func:`overdue`, for query plans (bench/growth.py)."""
    return _ordered(_overdue_query(today))


def _items(session: Session, query: Select[tuple[Deadline, Case]],
           limit: int | None) -> list[DueItem]:
    query = _ordered(query) if limit is None else _ordered(query).limit(limit)
    return [DueItem(case, deadline) for deadline, case in session.execute(query)]


def _page(session: Session, query: Select[tuple[Deadline, Case]], limit: int) -> DuePage:
    """``limit`` rows and the whole list's length, in one statement (a window count)."""
    rows = session.execute(_ordered(query.add_columns(func.count().over())).limit(limit)).all()
    return DuePage([DueItem(case, deadline) for deadline, case, _ in rows],
                   rows[0][2] if rows else 0)


def due_within(session: Session, today: date, working_days: int, *,
               limit: int | None = None) -> list[DueItem]:
    """Deadlines from today up to ``working_days`` working days ahead, soonest first."""
    return _items(session, _due_query(today, working_days), limit)


def due_page(session: Session, today: date, working_days: int, limit: int) -> DuePage:
    """The first ``limit`` of :func:`due_within` and its full length."""
    return _page(session, _due_query(today, working_days), limit)


def overdue(session: Session, today: date, *, limit: int | None = None) -> list[DueItem]:
    """Response dates before today that nobody has met, oldest first."""
    return _items(session, _overdue_query(today), limit)


def overdue_page(session: Session, today: date, limit: int) -> DuePage:
    """The first ``limit`` of :func:`overdue` and its full length."""
    return _page(session, _overdue_query(today), limit)


def assigned_to(session: Session, user_id: str) -> list[tuple[Case, Deadline | None]]:
    """Open cases assigned to a person, by their next deadline (none last)."""
    cases = session.scalars(select(Case).where(Case.assignee == user_id,
                                               Case.status != "closed")).all()
    listed = _items(session, _in_force().where(Case.assignee == user_id), None)
    items: dict[int, Deadline | None] = {}
    for item in listed:  # in due order: the first one seen is the next deadline
        items.setdefault(item.case.id, item.deadline)
    found = [(case, items.get(case.id)) for case in cases]
    found.sort(key=lambda cd: (cd[1].due_date if cd[1] and cd[1].due_date else date.max,
                               cd[0].reference))
    return found


@dataclass(frozen=True)
class Stats:
    open_cases: int
    closed_cases: int
    by_intent: dict[str, int]
    by_regime: dict[str, int]
    safeguarding_open: int
    needs_review: int
    held_letters: int
    overdue: int
    unassigned: int


def _open_counts_by(session: Session, column: Any) -> dict[str, int]:
    """Open cases per value, most first; ties in the order the values first appeared."""
    rows = session.execute(select(column, func.count(), func.min(Case.id))
                           .where(Case.status != "closed").group_by(column)).all()
    return {value: n for value, n, _ in sorted(rows, key=lambda r: (-r[1], r[2]))}


def stats(session: Session, today: date) -> Stats:
    """Counts for `/complaints stats` (open cases by label, review work, lateness).

    Counted in the database: reading every case ever received into Python grew with
    history, not with the open work.
    """
    is_open = Case.status != "closed"
    totals = session.execute(select(
        func.count().filter(is_open), func.count().filter(Case.status == "closed"),
        func.count().filter(is_open, Case.safeguarding.is_(True)),
        func.count().filter(is_open, Case.needs_review.is_(True)),
        func.count().filter(is_open, or_(Case.assignee.is_(None), Case.assignee == "")),
    )).one()
    held = session.scalar(select(func.count()).select_from(Letter).join(Case)
                          .where(Letter.status == "held", is_open)) or 0
    return Stats(
        open_cases=totals[0], closed_cases=totals[1],
        by_intent=_open_counts_by(session, Case.intent),
        by_regime=_open_counts_by(session, Case.regime),
        safeguarding_open=totals[2], needs_review=totals[3], held_letters=held,
        overdue=session.scalar(_overdue_query(today).with_only_columns(
            func.count(distinct(Deadline.case_id)), maintain_column_froms=True)) or 0,
        unassigned=totals[4],
    )
