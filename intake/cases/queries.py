"""Finding cases by what is due: for `/complaints`, the App Home and the daily digest.

A deadline counts while it is in force (not superseded), not met, and its case is open.
The time limit to complain is the complainant's date, not ours, so it is never "due". An
acknowledgement counts as done once the case's letter has left (queued, sent or printed);
only a held or failed one keeps ``acknowledge_by`` on the lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, distinct, exists, func, or_, select
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


def _acknowledged() -> ColumnElement[bool]:
    """The deadline's case has an acknowledgement that has left (tested in SQL, so a list
    costs one query, not one more per case to load its letters)."""
    return exists().where(Letter.case_id == Deadline.case_id, Letter.kind != "receipt",
                          Letter.status.in_(LETTER_GONE))


def _open_case_ids() -> Select[tuple[int]]:
    """Open cases as a set to drive from: they are few, while past deadlines pile up with
    every closed case in history."""
    return select(Case.id).where(Case.status != "closed")


def _open_deadlines(*, before: date | None = None, after: date | None = None,
                    assignee: str | None = None, past_responses: bool = False,
                    ) -> Select[tuple[Deadline, Case]]:
    """Deadlines in force, not met, of open cases; acknowledgements already sent left out.

    ``past_responses``: only response dates strictly before ``before`` (the overdue list).
    """
    query = (select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
             .where(Case.status != "closed", Deadline.superseded_at.is_(None),
                    Deadline.met_at.is_(None), Deadline.due_date.is_not(None),
                    Deadline.kind.not_in(NOT_OURS),
                    or_(Deadline.kind != "acknowledge_by", ~_acknowledged())))
    if past_responses:
        query = query.where(Deadline.case_id.in_(_open_case_ids()),
                            Deadline.kind.in_(RESPONSE_KINDS))
        if before is not None:
            query = query.where(Deadline.due_date < before)
    elif before is not None:
        query = query.where(Deadline.due_date <= before)
    if after is not None:
        query = query.where(Deadline.due_date >= after)
    if assignee is not None:
        query = query.where(Case.assignee == assignee)
    return query


def _items(session: Session, query: Select[tuple[Deadline, Case]],
           limit: int | None) -> list[DueItem]:
    query = query.order_by(Deadline.due_date, Case.reference, Deadline.kind)
    if limit is not None:
        query = query.limit(limit)
    return [DueItem(case, deadline) for deadline, case in session.execute(query)]


def _page(session: Session, query: Select[tuple[Deadline, Case]], limit: int) -> DuePage:
    """``limit`` rows, counting the whole list only when there are more than that."""
    items = _items(session, query, limit + 1)
    if len(items) <= limit:
        return DuePage(items, len(items))
    total = session.scalar(_counted(query, func.count())) or 0
    return DuePage(items[:limit], total)


def _counted(query: Select[tuple[Deadline, Case]], count: ColumnElement[int]
             ) -> Select[tuple[int]]:
    return query.with_only_columns(count, maintain_column_froms=True)


def _due_query(today: date, working_days: int) -> Select[tuple[Deadline, Case]]:
    return _open_deadlines(after=today, before=working_days_ahead(today, working_days))


def _overdue_query(today: date) -> Select[tuple[Deadline, Case]]:
    # Internal milestones are prompts on their day (the reminder scheduler posts them);
    # with nothing to mark them done, listing them as overdue for ever would bury the
    # real ones.
    return _open_deadlines(before=today, past_responses=True)


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
    listed = _items(session, _open_deadlines(assignee=user_id), None)
    items = {i.case.id: i.deadline for i in listed}
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


def stats(session: Session, today: date) -> Stats:
    """Counts for `/complaints stats` (open cases by label, review work, lateness)."""
    rows = session.execute(select(Case.status, Case.intent, Case.regime, Case.safeguarding,
                                  Case.needs_review, Case.assignee)).all()
    open_rows = [r for r in rows if r.status != "closed"]
    held = session.scalar(select(func.count()).select_from(Letter).join(Case)
                          .where(Letter.status == "held", Case.status != "closed")) or 0
    return Stats(
        open_cases=len(open_rows), closed_cases=len(rows) - len(open_rows),
        by_intent=dict(Counter(r.intent for r in open_rows).most_common()),
        by_regime=dict(Counter(r.regime for r in open_rows).most_common()),
        safeguarding_open=sum(1 for r in open_rows if r.safeguarding),
        needs_review=sum(1 for r in open_rows if r.needs_review),
        held_letters=held,
        overdue=session.scalar(_counted(_overdue_query(today),
                                        func.count(distinct(Deadline.case_id)))) or 0,
        unassigned=sum(1 for r in open_rows if not r.assignee),
    )
