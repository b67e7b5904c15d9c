"""A stored case read back as the pipeline's records, for staff changes and triage views.

When staff correct the labels, the deadlines are computed again and a held letter is
rendered again from what is stored on the case, exactly as the pipeline did from the
classifier's output. These helpers rebuild that input, so both paths share one code path
(the rules engine and the letter renderer) and cannot drift apart.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cases.models import Case, Deadline, Label
from intake.records import Classification, Contact

LABEL_NAMES = ("intent", "aspect", "inspectorate", "regime", "safeguarding")
MAIN_DEADLINES = ("acknowledge_by", "respond_by", "time_limit_ends")


def contact_of(case: Case) -> Contact:
    """The complainant as stored (empty when the case has none)."""
    person = case.complainant
    if person is None:
        return Contact()
    return Contact(name=person.name, email=person.email, phone=person.phone,
                   address=person.address, role=person.role,
                   email_consent=person.email_consent)


def current_labels(case: Case) -> list[Label]:
    """Labels not superseded by a later correction, in the order they were written."""
    return [label for label in case.labels if label.superseded_at is None]


def classification_of(case: Case) -> Classification:
    """The case's current labels and fields as a :class:`Classification`."""
    fields = case.fields or {}
    return Classification(
        intent=case.intent, aspects=list(case.aspects), inspectorates=list(case.inspectorates),
        regime=case.regime, safeguarding=case.safeguarding, confidence=dict(case.confidence),
        urn=case.urn, report_published=case.report_published,
        draft_received=case.draft_received,
        inspection_dates=[date.fromisoformat(d) for d in case.inspection_dates or []],
        provider=case.provider, contact=contact_of(case),
        desired_outcome=fields.get("desired_outcome"),
        actions_taken=fields.get("actions_taken"), availability=fields.get("availability"),
        special_measures=bool(fields.get("special_measures")),
        corporate_assessment=bool(fields.get("corporate_assessment")),
        needs_review=case.needs_review,
    )


def case_text(case: Case) -> str:
    """The complainant's own words from the message that opened the case (personal data)."""
    for message in case.messages:
        if message.new_text or message.text:
            return message.new_text or message.text or ""
    return ""


def current_deadlines(session: Session, case: Case) -> list[Deadline]:
    """Deadlines in force for the case (superseded rows are history), soonest first."""
    rows = session.scalars(select(Deadline).where(Deadline.case_id == case.id,
                                                  Deadline.superseded_at.is_(None)))
    return sorted(rows, key=lambda d: (d.due_date or date.max, d.id))
