"""Step: compute the case's dates from the rules engine and keep the rule behind each."""

from __future__ import annotations

from datetime import date, datetime

from intake.cases.models import Case, Deadline
from intake.rules.deadlines import LONDON, Deadlines, compute_deadlines
from intake.steps.context import Context, id_of


def _row(kind: str, due: date | datetime, rule: str, source: str | None,
         version: str) -> dict[str, object]:
    if isinstance(due, datetime):
        return {"kind": kind, "due_date": due.date(), "due_at": due, "rule": rule,
                "source": source, "rule_version": version}
    return {"kind": kind, "due_date": due, "due_at": None, "rule": rule, "source": source,
            "rule_version": version}


def compute_case_deadlines(ctx: Context, case: Case) -> Deadlines:
    """The case's dates, kept on the context and summarised on the case row. Called by
    ``open_case`` before the case is inserted, so its INSERT carries the summary."""
    c = ctx.classification
    assert c is not None
    # London time, so a 48-hour deadline is written with the local offset (RULES.md 8).
    received = case.received_at.astimezone(LONDON)
    d = compute_deadlines(regime=c.regime, intent=c.intent, received_at=received,
                          published=c.report_published, aspects=c.aspects)
    ctx.deadlines = d
    case.deadline_summary = d.to_json()
    case.rule_version = d.rule_version
    if d.out_of_time:
        case.flags = sorted({*(case.flags or []), "out_of_time"})
    return d


def write_deadlines(ctx: Context) -> None:
    case = ctx.case
    assert case is not None
    d = ctx.deadlines or compute_case_deadlines(ctx, case)
    rows = [_row(kind, getattr(d, kind), d.rule, d.sources.get(kind), d.rule_version)
            for kind in ("acknowledge_by", "respond_by", "time_limit_ends")
            if getattr(d, kind) is not None]
    rows += [_row(m.kind, m.due, m.rule, m.source, d.rule_version) for m in d.milestones]
    case_id = id_of(case)
    for row in rows:  # inserted with the batch; the case's collection loads when read
        ctx.batch.add(Deadline, case_id=case_id, **row)
