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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.cases.models import Case, Deadline, Letter
from intake.rules.rulebook import get_rulebook
from intake.rules.working_days import add_working_days

NOT_OURS = frozenset({"time_limit_ends"})
RESPONSE_KINDS = frozenset({"acknowledge_by", "respond_by"})
LETTER_GONE = frozenset({"queued", "sent", "printable", "bounced"})
LIST_LIMIT = 50


@dataclass(frozen=True)
class DueItem:
    """One deadline of one open case."""

    case: Case
    deadline: Deadline

    @property
    def label(self) -> str:
        return self.deadline.kind.replace("_", " ")


def working_days_ahead(today: date, days: int) -> date:
    """The date ``days`` working days after ``today`` (holidays and closures skipped)."""
    return add_working_days(today, days, get_rulebook().closures)


def _acknowledged(case: Case) -> bool:
    return any(lt.status in LETTER_GONE for lt in case.letters if lt.kind != "receipt")


def _open_deadlines(session: Session, *, before: date | None = None,
                    after: date | None = None, assignee: str | None = None) -> list[DueItem]:
    query = (select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
             .where(Case.status != "closed", Deadline.superseded_at.is_(None),
                    Deadline.met_at.is_(None), Deadline.due_date.is_not(None),
                    Deadline.kind.not_in(NOT_OURS)))
    if before is not None:
        query = query.where(Deadline.due_date <= before)
    if after is not None:
        query = query.where(Deadline.due_date >= after)
    if assignee is not None:
        query = query.where(Case.assignee == assignee)
    query = query.order_by(Deadline.due_date, Case.reference, Deadline.kind)
    items = []
    for deadline, case in session.execute(query):
        if deadline.kind == "acknowledge_by" and _acknowledged(case):
            continue
        items.append(DueItem(case, deadline))
    return items


def due_within(session: Session, today: date, working_days: int) -> list[DueItem]:
    """Deadlines from today up to ``working_days`` working days ahead, soonest first."""
    return _open_deadlines(session, after=today, before=working_days_ahead(today,
                                                                           working_days))


def overdue(session: Session, today: date) -> list[DueItem]:
    """Response dates before today that nobody has met, oldest first.

    Internal milestones are prompts on their day (the reminder scheduler posts them); with
    nothing to mark them done, listing them as overdue for ever would bury the real ones.
    """
    return [i for i in _open_deadlines(session, before=today)
            if i.deadline.due_date < today and i.deadline.kind in RESPONSE_KINDS]


def assigned_to(session: Session, user_id: str) -> list[tuple[Case, Deadline | None]]:
    """Open cases assigned to a person, by their next deadline (none last)."""
    cases = session.scalars(select(Case).where(Case.assignee == user_id,
                                               Case.status != "closed")).all()
    items = {i.case.id: i.deadline for i in _open_deadlines(session, assignee=user_id)}
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
        overdue=len({i.case.id for i in overdue(session, today)}),
        unassigned=sum(1 for r in open_rows if not r.assignee),
    )
