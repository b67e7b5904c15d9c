"""A batch's cases, complainants and letters are inserted by one flush at its end: the
rows that name them (labels, deadlines, links, audit, outbox) must still name the right
ones, a case must see the cases opened earlier in its own batch, and the reply log's
counts written at the end must still count, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, select

from intake import pipeline
from intake.cases.db import Store
from intake.cases.models import (
    AuditEntry,
    Case,
    CaseLink,
    Deadline,
    Label,
    Letter,
    OutboxItem,
    ReplyLog,
)
from intake.channels.phone import phone_record
from intake.email.can_acknowledge import can_acknowledge, record_reply, todays_count
from intake.records import IntakeRecord
from intake.settings import Settings, override_settings
from intake.steps.context import Batch

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)

FORM = {
    "caller_name": "Mrs Dawn Fenwick",
    "phone": "0161 496 0123",
    "email": "dawn@brookfarm.example",
    "email_consent": "yes",
    "role": "provider",
    "provider": "Brook Farm Nursery",
    "urn": "EY123456",
    "report_published": "2026-11-06",
    "what_happened": (
        "The inspector refused to look at the risk assessments we had prepared and graded "
        "the nursery inadequate. We disagree with the judgement."),
}


def _batch(store: Store, settings: Settings, count: int) -> list[pipeline.Outcome]:
    ids = [pipeline.accept(store, phone_record({**FORM, "caller_name": f"Caller {n}"},
                                               operator="op-7", now=NOW))
           for n in range(count)]
    return pipeline.process_batch(store, ids, settings)


def test_cases_of_one_batch_propose_links_to_each_other(store: Store,
                                                         settings: Settings) -> None:
    outcomes = _batch(store, settings, 3)
    assert [o.disposition for o in outcomes] == ["new_case"] * 3
    later = _batch(store, settings, 1)  # a batch of its own: finds them stored
    with store.session() as s:
        ids = {c.reference: c.id for c in s.execute(select(Case)).scalars()}
        first, second, third = (ids[o.case_reference or ""] for o in outcomes)
        fourth = ids[later[0].case_reference or ""]
        links = {(link.case_id, link.other_case_id, link.reason)
                 for link in s.execute(select(CaseLink)).scalars()}
    assert links == {(second, first, "same URN"), (third, second, "same URN"),
                     (third, first, "same URN"), (fourth, third, "same URN"),
                     (fourth, second, "same URN"), (fourth, first, "same URN")}


def test_rows_written_with_the_batch_name_their_own_case_and_letter(
        store: Store, settings: Settings) -> None:
    _batch(store, settings, 4)
    with store.session() as s:
        cases = s.execute(select(Case)).scalars().all()
        assert len(cases) == 4
        for case in cases:
            assert {label.name for label in case.labels} >= {"intent", "regime"}
            assert case.deadlines and all(d.case_id == case.id for d in case.deadlines)
            (letter,) = case.letters
            assert case.reference in letter.subject
            item = s.execute(select(OutboxItem).where(OutboxItem.letter_id == letter.id)
                             ).scalar_one()
            assert item.idempotency_key == f"letter:{letter.id}"
            assert item.message_id == letter.message_id
            prepared = [a for a in s.execute(select(AuditEntry).where(
                AuditEntry.case_reference == case.reference,
                AuditEntry.action == "letter_prepared")).scalars()]
            assert [a.detail["letter_id"] for a in prepared] == [letter.id]
        assert s.execute(select(Label).where(Label.case_id.is_(None))).first() is None
        assert s.execute(select(Deadline).where(Deadline.case_id.is_(None))).first() is None
        assert len(s.execute(select(Letter)).scalars().all()) == 4


def test_replies_counted_in_a_batch_count_towards_the_daily_limit(
        store: Store, settings: Settings) -> None:
    """The reply log is read and written once per batch; its own counts still stop a third
    letter to one address, also after a flush in the middle of the batch, and they are
    all written."""
    with override_settings(max_replies_per_sender_per_day=2) as limited:
        with store.session() as session:
            batch = Batch.of(session)
            batch.read_replies(session, ["Jo@example.org ", None])  # read once: none yet
            for _ in range(2):
                assert can_acknowledge(session, "jo@example.org", None, limited)[0]
                record_reply(session, "Jo@Example.org")
            assert session.execute(select(ReplyLog)).first() is None  # not yet
            ok, why = can_acknowledge(session, "jo@example.org", None, limited)
            assert not ok and "daily limit" in why
            batch.flush(session)
            record_reply(session, "jo@example.org")  # after the flush: counted again
            assert todays_count(session, "jo@example.org") == 3
            batch.flush(session)
        with store.session() as session:
            assert todays_count(session, "jo@example.org") == 3


def _email(n: int, subject: str,
           school: str = "Little Acorns Nursery, URN 139317") -> IntakeRecord:
    raw = (f"From: Parent {n} <parent{n}@home.example>\r\nTo: enquiries@example.org\r\n"
           f"Subject: {subject}\r\nMessage-ID: <batch-{n}@home.example>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "Please treat this as a complaint about the conduct of the inspection at "
           f"{school}. The inspectors did not look at the evidence we gave them and the "
           "report is wrong.\r\n").encode()
    return IntakeRecord(channel="email", external_id=f"<batch-{n}@home.example>",
                        received_at=NOW, raw=raw, sender=f"parent{n}@home.example",
                        recipients=("enquiries@example.org",))


def test_a_subject_naming_another_case_is_proposed_with_the_batch(
        store: Store, settings: Settings) -> None:
    """Linked once per pair: a case the subject names that is about the same provider is
    linked as such (a second row for the pair would fail the whole message)."""
    elsewhere = "Northgate High School, URN 258176"
    first = pipeline.process_batch(store, [pipeline.accept(store, _email(1, "Complaint")),
                                           pipeline.accept(store, _email(4, "Complaint",
                                                                         elsewhere))],
                                   settings)
    named, other = (o.case_reference for o in first)
    assert named is not None and other is not None
    ids = [pipeline.accept(store, _email(n, f"About {ref}")) for n, ref in
           ((2, named), (3, named), (5, other))]
    outcomes = pipeline.process_batch(store, ids, settings)
    assert [o.disposition for o in outcomes] == ["new_case"] * 3
    with store.session() as s:
        by_ref = {c.reference: c.id for c in s.execute(select(Case)).scalars()}
        second, third, fifth = (by_ref[o.case_reference or ""] for o in outcomes)
        links = {(link.case_id, link.other_case_id): link.reason
                 for link in s.execute(select(CaseLink)).scalars()}
    subject = "subject names this case; sender is not its complainant"
    assert links[(second, by_ref[named])] == links[(third, by_ref[named])] == "same URN"
    assert links[(third, second)] == links[(fifth, third)] == "same URN"
    assert links[(fifth, by_ref[other])] == subject


def test_a_batch_inserts_each_tables_rows_with_one_statement(store: Store,
                                                              settings: Settings) -> None:
    """SQLite numbers the batch's new rows itself (it gives no order for a multi-row
    RETURNING): one INSERT per table, and each case names its own complainant and letter,
    numbered after the rows already stored."""
    first = _batch(store, settings, 1)
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement.split("(", 1)[0].strip())

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        outcomes = _batch(store, settings, 4)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert [o.disposition for o in outcomes] == ["new_case"] * 4
    if not store.is_postgres:
        for table in ("cases", "complainants", "letters", "labels", "audit"):
            assert sent.count(f"INSERT INTO {table}") == 1, table
    with store.session() as s:
        cases = {c.reference: c for c in s.execute(select(Case)).scalars()}
        ids = [cases[o.case_reference or ""].id for o in outcomes]
        assert ids == sorted(ids) and min(ids) > cases[first[0].case_reference or ""].id
        for n, outcome in enumerate(outcomes):
            case = cases[outcome.case_reference or ""]
            assert case.complainant is not None and case.complainant.name == f"Caller {n}"
            (letter,) = case.letters
            assert letter.case_id == case.id and case.reference in letter.subject


def test_a_batchs_alerts_go_in_together_with_their_notices(store: Store,
                                                           settings: Settings) -> None:
    """Alerts raised in a batch are inserted by one flush at its end, counted as sent
    once, each with its own first notice to the duty address and its audit row."""
    from intake.cases.models import Alert

    _batch(store, settings, 2)
    with override_settings(duty_email="duty@example.org") as duty, store.session() as s:
        batch = Batch.of(s)
        cases = s.execute(select(Case).order_by(Case.id)).scalars().all()
        batch.alert(s, cases[0], "safeguarding", duty)
        batch.alert(s, cases[1], "withhold", duty)
        batch.flush(s)
        s.commit()
    with store.session() as s:
        alerts = s.execute(select(Alert).order_by(Alert.id)).scalars().all()
        assert [(a.case_id, a.kind, a.sends) for a in alerts] == [
            (cases[0].id, "safeguarding", 1), (cases[1].id, "withhold", 1)]
        assert all(a.last_sent_at is not None for a in alerts)
        keys = set(s.execute(select(OutboxItem.idempotency_key)
                             .where(OutboxItem.purpose == "alert")).scalars())
        assert keys == {f"alert:{a.id}:1" for a in alerts}
        raised = s.execute(select(AuditEntry).where(AuditEntry.action == "alert_raised")
                           ).scalars().all()
        assert sorted(a.detail["alert_id"] for a in raised) == [a.id for a in alerts]
