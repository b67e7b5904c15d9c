"""Step: open the case: reference, complainant, labels with their source, proposed links.

Everything is written in the pipeline's one transaction, so a crash leaves nothing
half-made: the stored message stays pending and is processed again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Executable, Select, bindparam, literal, or_, select, union_all
from sqlalchemy.orm import Session

from intake.cases.audit import SYSTEM
from intake.cases.models import NEW_CASE, Case, CaseLink, Complainant, Label
from intake.cases.references import new_reference
from intake.records import Classification
from intake.rules.deadlines import received_date
from intake.scan import flag_case
from intake.steps.context import Batch, Context, id_of
from intake.steps.deadlines import compute_case_deadlines

LINK_WINDOW = timedelta(days=120)


def provider_key(name: str | None) -> str | None:
    """A normalised provider name, so 'St Mary's C of E Primary' matches 'st marys c of e'."""
    if not name:
        return None
    key = re.sub(r"[^a-z0-9 ]", "", name.lower().replace("&", " and "))
    key = re.sub(r"\b(the|school|academy|ltd|limited)\b", " ", key)
    key = " ".join(key.split())
    return key or None


def _complainant(ctx: Context) -> Complainant:
    assert ctx.classification is not None and ctx.parsed is not None
    contact = ctx.classification.contact
    if ctx.parsed.forwarded_from is not None:
        original = ctx.parsed.forwarded_from  # the complainant; the forwarder is recorded too
        contact = type(contact)(name=original.name, email=original.email,
                                phone=contact.phone, address=contact.address,
                                role=contact.role, email_consent=contact.email_consent)
    person = Complainant(name=contact.name, email=(contact.email or None),
                         phone=contact.phone, address=contact.address, role=contact.role,
                         email_consent=contact.email_consent)
    ctx.session.add(person)
    return person


def _case_fields(c: Classification, ctx: Context) -> dict[str, object]:
    assert ctx.parsed is not None
    fields: dict[str, object] = {
        "desired_outcome": c.desired_outcome, "actions_taken": c.actions_taken,
        "availability": c.availability, "special_measures": c.special_measures,
        "corporate_assessment": c.corporate_assessment,
    }
    if ctx.parsed.forwarded_from is not None:
        fields["forwarded_by"] = ctx.parsed.from_header
    if ctx.parsed.structured:
        fields["operator"] = ctx.parsed.structured.get("operator")
        fields["inspection_dates_text"] = ctx.parsed.structured.get("inspection_dates")
    return {k: v for k, v in fields.items() if v not in (None, "", False)}


def _labels(ctx: Context, case: Case, c: Classification, source: str) -> None:
    """The label rows, inserted with the batch (the case's ``labels`` collection is left
    unloaded, so a later reader loads them)."""

    case_id = id_of(case)

    def add(name: str, value: str, key: str) -> None:
        ctx.batch.add(Label, case_id=case_id, name=name, value=value,
                      confidence=c.confidence.get(key), source=source, rule=c.rules.get(key))

    add("intent", c.intent, f"intent:{c.intent}")
    for aspect in c.aspects:
        add("aspect", aspect, f"aspect:{aspect}")
    for body in c.inspectorates:
        add("inspectorate", body, f"inspectorate:{body}")
    add("regime", c.regime, f"regime:{c.regime}")
    add("safeguarding", "true" if c.safeguarding else "false", "safeguarding")


_CASES = Case.__table__.c


@cache
def _newest_related(n: int) -> Select[Any]:
    """The newest ten cases before case ``n`` of the batch about its provider or URN,
    received within the window before it. Every case's part has the same shape (a
    missing URN or provider binds NULL, which matches nothing), so the batch's query is
    compiled once per batch size and then found in SQLAlchemy's cache."""
    newest = (select(literal(n).label("n"), _CASES.id, _CASES.urn)  # not ten whole cases
              .where(or_(_CASES.urn == bindparam(f"urn_{n}"),
                         _CASES.provider_key == bindparam(f"key_{n}")),
                     _CASES.id < bindparam(f"id_{n}"),
                     _CASES.received_at >= bindparam(f"since_{n}"))
              .order_by(_CASES.id.desc()).limit(10).subquery())
    return select(newest)  # its ORDER BY and LIMIT inside a compound SELECT


def _link_query(cases: list[Case]) -> tuple[Executable | None, dict[str, Any]]:
    """For each case with a URN or a provider, the newest ten cases about the same
    provider or URN received within the window before it: one Core query for the
    batch's cases (each with its own window and limit), and its parameters. ``n`` in
    each row is the case's index in ``cases``."""
    found, params = [], {}
    for n, case in enumerate(cases):
        if not (case.urn or case.provider_key):
            continue
        found.append(n)
        params.update({f"urn_{n}": case.urn or None, f"key_{n}": case.provider_key or None,
                       f"id_{n}": case.id, f"since_{n}": case.received_at - LINK_WINDOW})
    return (_union(tuple(found)) if found else None), params


@lru_cache(maxsize=512)
def _union(cases: tuple[int, ...]) -> Executable:
    """The parts for these cases of a batch, built once for each such set."""
    parts = [_newest_related(n) for n in cases]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def propose_links(session: Session, batch: Batch) -> None:
    """Cases about the same provider or URN may be one investigation (000_… para 27).

    Run by the batch's flush once its cases are inserted: a case is linked to the cases
    before it (a lower id: those stored, and those opened earlier in the batch). Then
    the case its subject names, if any and not linked already.
    """
    pending, batch.linking = batch.linking, []
    query, params = _link_query([case for case, _ in pending])
    found: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    rows = session.connection().execute(query, params) if query is not None else ()
    for n, other_id, urn in rows:
        found[n].append((other_id, urn))
    for n, (case, named) in enumerate(pending):
        for other_id, urn in sorted(found[n], reverse=True):  # newest first
            reason = "same URN" if case.urn and urn == case.urn else "same provider"
            batch.add(CaseLink, case_id=case.id, other_case_id=other_id, kind="proposed",
                      reason=reason, created_by=SYSTEM)
        # Once per pair (a unique key): a case its subject names may be linked already.
        if named is not None and named not in {other_id for other_id, _ in found[n]}:
            batch.add(CaseLink, case_id=case.id, other_case_id=named, kind="proposed",
                      reason="subject names this case; sender is not its complainant",
                      created_by=SYSTEM)


def _subject_case(ctx: Context) -> int | None:
    """The case an email's subject names, for a proposed link when it did not join."""
    if ctx.message.channel != "email":
        return None
    from intake.email.threading import subject_reference_case

    assert ctx.parsed is not None
    named = subject_reference_case(ctx.session, ctx.parsed)
    return named.id if named is not None else None


def open_case(ctx: Context) -> None:
    c, msg = ctx.classification, ctx.message
    assert c is not None
    year = received_date(msg.received_at).year
    case = Case(
        reference=new_reference(ctx.session, year, ctx.batch), channel=msg.channel, status="open",
        received_at=msg.received_at, intent=c.intent, aspects=sorted(c.aspects),
        inspectorates=sorted(c.inspectorates), regime=c.regime, safeguarding=c.safeguarding,
        urn=c.urn, provider=c.provider, provider_key=provider_key(c.provider),
        report_published=c.report_published, draft_received=c.draft_received,
        inspection_dates=[d.isoformat() for d in c.inspection_dates],
        fields=_case_fields(c, ctx), confidence=dict(c.confidence),
        needs_review=c.needs_review, complainant=_complainant(ctx),
        # Collections start loaded, so later appends never query for them.
        messages=[msg], letters=[],
    )
    msg.disposition = NEW_CASE  # set before the flush: one UPDATE of the message row
    msg.reason = None
    compute_case_deadlines(ctx, case)  # likewise: the case's INSERT carries the summary
    ctx.session.add(case)  # inserted with the batch's other cases (``Batch.flush``)
    ctx.case = case
    _labels(ctx, case, c, f"model:{c.model_version}")
    flag_case(ctx.session, case, msg)  # quarantined attachments (intake/scan.py)
    ctx.batch.linking.append((case, _subject_case(ctx)))  # proposed at the batch's flush
    ctx.batch.audit(SYSTEM, "case_opened", case.reference, channel=msg.channel,
                    intent=c.intent, regime=c.regime, needs_review=c.needs_review,
                    message_id=msg.id)
