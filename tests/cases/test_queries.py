"""The due and overdue lists on SQLite and PostgreSQL: what they hold, in what order, and
that each costs a fixed number of statements however many cases it lists."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event

from intake.cases.db import Store
from intake.cases.models import Case, Deadline, Letter
from intake.cases.queries import (
    assigned_to,
    due_page,
    due_within,
    overdue,
    overdue_page,
    stats,
)

TODAY = date(2026, 3, 2)  # a Monday; the next five working days end on Monday 9 March
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add_case(session: Any, ref: int, deadlines: dict[str, date], *, letter: str | None = "sent",
             letter_kind: str = "acknowledgement", status: str = "open",
             case_fields: dict[str, Any] | None = None, **deadline_fields: Any) -> Case:
    fields = {"intent": "complaint", "regime": "ofsted", **(case_fields or {})}
    case = Case(reference=f"CMP-2026-{ref:05d}", channel="email", status=status,
                received_at=NOW - timedelta(days=3), **fields)
    session.add(case)
    session.flush()
    for kind, due in deadlines.items():
        session.add(Deadline(case_id=case.id, kind=kind, due_date=due, rule="OFS-2024",
                             **deadline_fields))
    if letter is not None:
        session.add(Letter(case_id=case.id, kind=letter_kind, status=letter, subject="s",
                           body_text="t", body_html="h", message_id=f"<l{ref}@example.org>"))
    return case


def refs(items: Any) -> list[tuple[str, str]]:
    return [(i.case.reference, i.deadline.kind) for i in items]


@contextmanager
def selects(store: Store) -> Iterator[list[str]]:
    """The SELECT statements sent to the database inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_acknowledgements_count_once_a_letter_has_left(store: Store) -> None:
    soon = TODAY + timedelta(days=1)
    with store.session() as s:
        add_case(s, 1, {"acknowledge_by": soon}, letter="sent")
        add_case(s, 2, {"acknowledge_by": soon}, letter="held")
        add_case(s, 3, {"acknowledge_by": soon}, letter="failed")
        add_case(s, 4, {"acknowledge_by": soon}, letter="sent", letter_kind="receipt")
        add_case(s, 5, {"acknowledge_by": soon}, letter=None)
        add_case(s, 6, {"acknowledge_by": soon}, letter="printable")
    with store.session() as s:
        assert refs(due_within(s, TODAY, 5)) == [(f"CMP-2026-0000{n}", "acknowledge_by")
                                                 for n in (2, 3, 4, 5)]


def test_lists_leave_out_closed_met_superseded_and_the_complainants_time_limit(
        store: Store) -> None:
    soon, late = TODAY + timedelta(days=2), TODAY - timedelta(days=4)
    with store.session() as s:
        add_case(s, 1, {"respond_by": soon, "time_limit_ends": soon})
        add_case(s, 2, {"respond_by": soon}, status="closed")
        add_case(s, 3, {"respond_by": late}, met_at=NOW)
        add_case(s, 4, {"respond_by": late}, superseded_at=NOW)
        add_case(s, 5, {"respond_by": late, "inspector_reply_by": late})
        add_case(s, 6, {"respond_by": late}, status="closed")
        add_case(s, 7, {"respond_by": TODAY})
        add_case(s, 8, {"respond_by": TODAY + timedelta(days=30)})
    with store.session() as s:
        assert refs(due_within(s, TODAY, 5)) == [("CMP-2026-00007", "respond_by"),
                                                 ("CMP-2026-00001", "respond_by")]
        # Response dates strictly before today only; milestones are prompts, not overdue.
        assert refs(overdue(s, TODAY)) == [("CMP-2026-00005", "respond_by")]


def test_pages_hold_the_soonest_rows_and_count_the_whole_list(store: Store) -> None:
    with store.session() as s:
        for n in range(1, 8):  # due on 3..9 March, the later references sooner
            add_case(s, n, {"respond_by": TODAY + timedelta(days=8 - n)})
            add_case(s, 100 + n, {"respond_by": TODAY - timedelta(days=n)})
        add_case(s, 8, {"respond_by": TODAY + timedelta(days=8)})  # 10 March: too late
    with store.session() as s:
        whole = refs(due_within(s, TODAY, 5))
        page = due_page(s, TODAY, 5, 3)
        assert refs(page.items) == whole[:3] == [(f"CMP-2026-0000{n}", "respond_by")
                                                  for n in (7, 6, 5)]
        assert page.total == len(whole) == 7
        assert due_page(s, TODAY, 5, 40).total == 7
        late = overdue_page(s, TODAY, 4)
        assert refs(late.items) == refs(overdue(s, TODAY))[:4] == [
            (f"CMP-2026-{n:05d}", "respond_by") for n in (107, 106, 105, 104)]
        assert late.total == 7
        assert refs(overdue(s, TODAY, limit=2)) == refs(late.items)[:2]


def test_a_list_costs_the_same_statements_for_few_or_many_cases(store: Store) -> None:
    """One SELECT for a list or a page with its total, however many cases it holds (no
    per-case load of letters, no separate count)."""
    with store.session() as s:
        add_case(s, 1, {"acknowledge_by": TODAY, "respond_by": TODAY - timedelta(days=1)},
                 letter="held")
    with store.session() as s, selects(store) as few:
        assert len(due_within(s, TODAY, 5)) == 1
    with store.session() as s:
        for n in range(2, 40):
            add_case(s, n, {"acknowledge_by": TODAY, "respond_by": TODAY - timedelta(days=1)},
                     letter="held" if n % 2 else "sent")
    with store.session() as s, selects(store) as many:
        assert len(due_within(s, TODAY, 5)) == 20
    assert len(few) == len(many) == 1
    with store.session() as s, selects(store) as short:
        assert due_page(s, TODAY, 5, 40).total == 20
    with store.session() as s, selects(store) as long:
        page = overdue_page(s, TODAY, 10)
    assert (len(page.items), page.total) == (10, 39)
    assert len(short) == len(long) == 1


def test_stats_count_each_overdue_case_once(store: Store) -> None:
    late = TODAY - timedelta(days=3)
    with store.session() as s:
        add_case(s, 1, {"acknowledge_by": late, "respond_by": late}, letter="held")
        add_case(s, 2, {"respond_by": late})
        add_case(s, 3, {"respond_by": late}, status="closed")
        add_case(s, 4, {"respond_by": TODAY + timedelta(days=3)})
    with store.session() as s:
        assert len(overdue(s, TODAY)) == 3
        assert stats(s, TODAY).overdue == 2


def test_stats_count_open_cases_by_label_most_first_then_first_seen(store: Store) -> None:
    labels = [("enquiry", "jar", True, False, "U1"), ("complaint", "ofsted", False, True, ""),
              ("complaint", "jar", False, False, None), ("enquiry", "ofsted", True, True, None),
              ("feedback", "slac", False, False, "U2")]
    with store.session() as s:
        for n, (intent, regime, safeguarding, review, assignee) in enumerate(labels, 1):
            add_case(s, n, {}, case_fields={"intent": intent, "regime": regime,
                                            "safeguarding": safeguarding,
                                            "needs_review": review, "assignee": assignee})
        add_case(s, 9, {}, status="closed", case_fields={"intent": "feedback"})
        add_case(s, 10, {}, letter="held", case_fields={"regime": "slac"})
        add_case(s, 11, {}, letter="held", status="closed")
    with store.session() as s:
        got = stats(s, TODAY)
    assert (got.open_cases, got.closed_cases) == (6, 2)
    assert list(got.by_intent.items()) == [("complaint", 3), ("enquiry", 2), ("feedback", 1)]
    assert list(got.by_regime.items()) == [("jar", 2), ("ofsted", 2), ("slac", 2)]  # a tie
    assert (got.safeguarding_open, got.needs_review, got.unassigned) == (2, 2, 4)
    assert (got.held_letters, got.overdue) == (1, 0)


def test_my_cases_show_their_next_deadline_not_their_last(store: Store) -> None:
    today = NOW.date()
    with store.session() as s:
        held = add_case(s, 1, {"acknowledge_by": today, "respond_by": today + timedelta(30)},
                        letter="held", case_fields={"assignee": "U1"})
        sent = add_case(s, 2, {"acknowledge_by": today, "respond_by": today + timedelta(20)},
                        letter="sent", case_fields={"assignee": "U1"})
        held_ref, sent_ref = held.reference, sent.reference
    with store.session() as s:
        mine = [(case.reference, d.kind if d else None) for case, d in assigned_to(s, "U1")]
    # The held acknowledgement is due first; the sent one no longer counts.
    assert mine == [(held_ref, "acknowledge_by"), (sent_ref, "respond_by")]
