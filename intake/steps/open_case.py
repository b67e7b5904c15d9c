"""Step: open the case: reference, complainant, labels with their source, proposed links.

Everything is written in the pipeline's one transaction, so a crash leaves nothing
half-made: the stored message stays pending and is processed again.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import or_, select

from intake.cases.audit import SYSTEM
from intake.cases.models import NEW_CASE, Case, CaseLink, Complainant, Label
from intake.cases.references import new_reference
from intake.records import Classification
from intake.rules.deadlines import received_date
from intake.scan import flag_case
from intake.steps.context import Context, Later, id_of
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


def _same_provider(case: Case, other: Case) -> bool:
    """The link query's condition, for a case of this batch not inserted yet."""
    return bool(case.urn and other.urn == case.urn
                or case.provider_key and other.provider_key == case.provider_key)


def _propose_links(ctx: Context, case: Case) -> None:
    """Cases about the same provider or URN may be one investigation (000_… para 27).

    The newest ten: the cases opened earlier in this batch and not inserted yet (newer
    than any inserted case; the batch's flush inserts them), then the inserted ones.
    """
    conditions = []
    if case.urn:
        conditions.append(Case.urn == case.urn)
    if case.provider_key:
        conditions.append(Case.provider_key == case.provider_key)
    if not conditions:
        return
    since = case.received_at - LINK_WINDOW
    found: list[tuple[int | Later, str | None]] = [
        (Later(lambda other=other: other.id), other.urn) for other in reversed(ctx.batch.cases)
        if other.id is None and other is not case and _same_provider(case, other)
        and other.received_at >= since
    ][:10]
    if len(found) < 10:
        query = select(Case.id, Case.urn).where(or_(*conditions), Case.received_at >= since)
        if case.id is not None:
            query = query.where(Case.id != case.id)
        found += ctx.session.execute(  # two columns, not ten whole cases
            query.order_by(Case.id.desc()).limit(10 - len(found))).all()
    case_id = id_of(case)
    for other_id, urn in found:  # append-only rows nobody reads in this transaction
        reason = "same URN" if case.urn and urn == case.urn else "same provider"
        ctx.batch.add(CaseLink, case_id=case_id, other_case_id=other_id, kind="proposed",
                      reason=reason, created_by=SYSTEM)


def _propose_subject_link(ctx: Context, case: Case) -> None:
    if ctx.message.channel != "email":
        return
    from intake.email.threading import subject_reference_case

    assert ctx.parsed is not None
    named = subject_reference_case(ctx.session, ctx.parsed)
    if named is not None and named.id != case.id:
        ctx.batch.add(CaseLink, case_id=id_of(case), other_case_id=named.id, kind="proposed",
                      reason="subject names this case; sender is not its complainant",
                      created_by=SYSTEM)


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
    ctx.batch.cases.append(case)
    ctx.case = case
    _labels(ctx, case, c, f"model:{c.model_version}")
    flag_case(ctx.session, case, msg)  # quarantined attachments (intake/scan.py)
    _propose_links(ctx, case)
    _propose_subject_link(ctx, case)
    ctx.batch.audit(SYSTEM, "case_opened", case.reference, channel=msg.channel,
                    intent=c.intent, regime=c.regime, needs_review=c.needs_review,
                    message_id=msg.id)
