"""Staff corrections from the case store, as labelled examples for training.

A correction made in Slack is a ``Label`` row whose ``source`` starts with ``staff:``; it
supersedes the model's label (the old row gets ``superseded_at``) and never deletes it.
For every case with at least one correction, the case's current labels (rows not
superseded) and the text of its first message make one labelled example.
"""

from __future__ import annotations

from sqlalchemy import select

from intake.cases.db import Store
from intake.cases.models import Case, Label, Message
from nlp.dataset import LabelledExample


def corrected_case_ids(store: Store) -> list[int]:
    with store.session() as session:
        rows = session.execute(
            select(Label.case_id).where(Label.source.like("staff:%")).distinct()
            .order_by(Label.case_id)
        )
        return [row[0] for row in rows]


def _current(labels: list[Label], name: str) -> list[str]:
    return sorted({lab.value for lab in labels if lab.name == name and lab.superseded_at is None})


def example_for_case(case: Case, message: Message, labels: list[Label]) -> LabelledExample | None:
    """The case's current labels on its first message's text; None when incomplete."""
    intents, regimes = _current(labels, "intent"), _current(labels, "regime")
    text = message.new_text or message.text
    if len(intents) != 1 or len(regimes) != 1 or not text:
        return None
    return LabelledExample(
        id=f"correction-{case.reference}",
        text=text,
        subject=message.subject,
        channel=message.channel,
        received_at=message.received_at,
        intent=intents[0],
        aspects=_current(labels, "aspect"),
        inspectorates=_current(labels, "inspectorate"),
        regime=regimes[0],
        safeguarding=_current(labels, "safeguarding") == ["true"],
        urn=case.urn,
        report_published=case.report_published,
        draft_received=case.draft_received,
        source="staff",
    )


def load_corrections(database_url: str) -> list[LabelledExample]:
    """Every corrected case as a labelled example, oldest case first."""
    store = Store(database_url)
    try:
        ids = corrected_case_ids(store)
        out: list[LabelledExample] = []
        with store.session() as session:
            for case_id in ids:
                case = session.get(Case, case_id)
                message = session.scalars(
                    select(Message).where(Message.case_id == case_id).order_by(Message.id)
                ).first()
                labels = list(session.scalars(select(Label).where(Label.case_id == case_id)))
                if case is not None and message is not None:
                    example = example_for_case(case, message, labels)
                    if example is not None:
                        out.append(example)
        return out
    finally:
        store.dispose()
