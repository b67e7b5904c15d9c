"""Step: compute the case's dates from the rules engine and keep the rule behind each."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert

from intake.cases.models import Deadline
from intake.rules.deadlines import LONDON, compute_deadlines
from intake.steps.context import Context


def _row(kind: str, due: date | datetime, rule: str, source: str | None,
         version: str) -> dict[str, object]:
    if isinstance(due, datetime):
        return {"kind": kind, "due_date": due.date(), "due_at": due, "rule": rule,
                "source": source, "rule_version": version}
    return {"kind": kind, "due_date": due, "due_at": None, "rule": rule, "source": source,
            "rule_version": version}


def write_deadlines(ctx: Context) -> None:
    case, c = ctx.case, ctx.classification
    assert case is not None and c is not None
    # London time, so a 48-hour deadline is written with the local offset (RULES.md 8).
    received = case.received_at.astimezone(LONDON)
    d = compute_deadlines(regime=c.regime, intent=c.intent, received_at=received,
                          published=c.report_published, aspects=c.aspects)
    ctx.deadlines = d
    case.deadline_summary = d.to_json()
    case.rule_version = d.rule_version
    rows = [_row(kind, getattr(d, kind), d.rule, d.sources.get(kind), d.rule_version)
            for kind in ("acknowledge_by", "respond_by", "time_limit_ends")
            if getattr(d, kind) is not None]
    rows += [_row(m.kind, m.due, m.rule, m.source, d.rule_version) for m in d.milestones]
    if rows:  # one multi-row INSERT; the case's collection is loaded by whoever reads it
        ctx.session.execute(insert(Deadline).execution_options(render_nulls=True),
                            [{"case_id": case.id, **r} for r in rows])
    if d.out_of_time:
        case.flags = sorted({*case.flags, "out_of_time"})
