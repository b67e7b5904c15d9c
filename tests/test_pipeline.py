"""The one pipeline every channel shares, driven through the phone channel (no network).

Covers: a case with deadlines and a letter, idempotency on the external id, quarantine of
unreadable input, a failure that leaves nothing half-written and is retried, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from intake import pipeline, writer_lock
from intake.cases.db import Store
from intake.cases.models import AuditEntry, Case, Letter, Message
from intake.channels.phone import phone_record
from intake.records import IntakeRecord
from intake.settings import Settings

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)

FORM = {
    "caller_name": "Mrs Dawn Fenwick",
    "phone": "0161 496 0123",
    "address": "4 Mill Lane, Oldham, OL1 1AA",
    "role": "provider",
    "provider": "Brook Farm Nursery",
    "urn": "EY123456",
    "report_published": "2026-11-06",
    "what_happened": (
        "Caller is the manager of Brook Farm Nursery. She says the inspector shouted at a "
        "member of staff in front of the children and refused to look at the risk "
        "assessments they had prepared, then graded the nursery inadequate. She disagrees "
        "with the judgement and says the report has the wrong number of places (it says 60, "
        "they are registered for 42)."),
    "desired_outcome": "A re-inspection and an apology",
    "actions_taken": "Raised it with the inspector on the day",
    "availability": "Weekdays after 2pm",
    "email_consent": "no",
}


def _count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _record(**changes: object) -> IntakeRecord:
    return phone_record({**FORM, **changes}, operator="op-7", now=NOW)


def test_phone_complaint_becomes_a_case_with_deadlines_and_a_letter(
        store: Store, settings: Settings) -> None:
    message_id = pipeline.accept(store, _record(call_time="2026-11-23T10:15:00+00:00"))
    outcome = pipeline.process_message(store, message_id, settings)
    assert outcome is not None and outcome.disposition == "new_case"
    assert re.fullmatch(r"[A-Z]{2,5}-2026-\d{5,}", outcome.case_reference or "")
    with store.session() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.channel == "phone"
        assert case.urn == "EY123456"
        assert case.report_published.isoformat() == "2026-11-06"
        assert case.regime == "ofsted"
        # RULES.md section 6, first row: received Mon 2026-11-23, published 2026-11-06.
        assert case.deadline_summary["acknowledge_by"] == "2026-11-23"
        if case.intent == "complaint":
            assert case.deadline_summary["respond_by"] == "2027-01-07"
            assert case.deadline_summary["time_limit_ends"] == "2026-11-20"
            assert case.deadline_summary["out_of_time"] is True
        assert case.complainant is not None and case.complainant.role == "provider"
        [letter] = [lt for lt in case.letters if lt.kind != "receipt"]
        assert letter.delivery == "post"  # no email given: a printable letter
        assert letter.status == "queued"
        assert case.reference in letter.body_text
        assert "<html" in letter.body_html.lower()
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
        assert "case_opened" in actions and "letter_prepared" in actions


def test_same_external_id_twice_makes_one_case_and_one_letter(
        store: Store, settings: Settings) -> None:
    record = _record()
    first = pipeline.accept(store, record)
    second = pipeline.accept(store, record)
    outcomes = pipeline.process_pending(store, settings=settings)
    assert [o.disposition for o in outcomes] == ["new_case", "duplicate"]
    assert _count(store, Case) == 1
    assert _count(store, Message) == 2
    letters = _count(store, Letter)
    assert pipeline.process_message(store, first, settings) is None  # already done
    assert pipeline.process_message(store, second, settings) is None
    assert _count(store, Letter) == letters
    with store.session() as s:
        dup = s.get(Message, second)
        assert dup is not None and dup.duplicate_of_id == first
        assert dup.case_id is not None  # the original's case, written in the same batch
        assert dup.case_id == s.get(Message, first).case_id  # type: ignore[union-attr]


def test_unreadable_input_is_quarantined_not_lost(store: Store, settings: Settings) -> None:
    bad = IntakeRecord(channel="phone", external_id="phone-broken", received_at=NOW,
                       raw=b"\xff\xfe not json", sender="op-7")
    message_id = pipeline.accept(store, bad)
    outcome = pipeline.process_message(store, message_id, settings)
    assert outcome is not None and outcome.disposition == "quarantined"
    with store.session() as s:
        msg = s.get(Message, message_id)
        assert msg is not None and msg.raw == bad.raw
        assert msg.reason and "JSON" in msg.reason
    assert _count(store, Case) == 0


def test_a_failing_step_leaves_nothing_half_written_and_is_retried(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: object) -> None:
        raise RuntimeError("notify failed")

    steps = list(pipeline.STEPS)
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps[:-1]) + (broken,))
    message_id = pipeline.accept(store, _record())
    outcome = pipeline.process_message(store, message_id, settings)
    assert outcome is not None and outcome.disposition == "failed"
    assert _count(store, Case) == 0 and _count(store, Letter) == 0  # rolled back whole
    with store.session() as s:
        msg = s.get(Message, message_id)
        assert msg is not None and msg.attempts == 1 and msg.next_attempt_at is not None
        msg.next_attempt_at = datetime(2000, 1, 1, tzinfo=UTC)  # due now
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps))
    [retried] = pipeline.process_pending(store, settings=settings)
    assert retried.disposition == "new_case"
    assert _count(store, Case) == 1


def test_cases_and_messages_export_follow_the_contract(
        sqlite_store: Store, settings: Settings) -> None:
    from intake.cases.cli import case_json, message_json

    message_id = pipeline.accept(sqlite_store, _record())
    pipeline.process_message(sqlite_store, message_id, settings)
    with sqlite_store.session() as s:
        case = s.execute(select(Case)).scalar_one()
        data = json.loads(json.dumps(case_json(s, case)))
        row = json.loads(json.dumps(message_json(s, s.get(Message, message_id), True)))
    for key in ("reference", "channel", "status", "received_at", "intent", "aspects",
                "inspectorates", "regime", "safeguarding", "deadlines", "messages",
                "letters", "links"):
        assert key in data
    assert set(data["deadlines"]) == {"acknowledge_by", "respond_by", "out_of_time",
                                      "time_limit_ends", "rule"}
    assert data["messages"][0]["external_id"].startswith("phone-")
    assert data["letters"][0]["status"] in {"held", "queued", "sent", "failed", "bounced"}
    assert row["case"] == data["reference"] and row["disposition"] == "new_case"
    assert "Brook Farm" in row["text"] and row["attachments"] == []


def test_raw_8bit_header_bytes_never_stop_a_case(sqlite_store: Store,
                                                 settings: Settings) -> None:
    raw = (b"From: \xc2\x98G\xc3\x96 Head <head@school.example>\r\nTo: enquiries@localhost\r\n"
           b"Subject: Complaint \xff\xfe\r\nMessage-ID: <8bit@school.example>\r\n\r\n"
           b"Dear Ofsted, the inspector was rude to my staff at Hill School (URN 123456).\r\n")
    record = IntakeRecord(channel="email", external_id="8bit@school.example",
                          received_at=NOW, raw=raw, sender="head@school.example")
    outcome = pipeline.process_message(sqlite_store, pipeline.accept(sqlite_store, record),
                                       settings)
    assert outcome is not None and outcome.disposition == "new_case"


# --- batches: prepared together, written in one transaction --------------------------


def _accept_many(store: Store, count: int) -> list[int]:
    return [pipeline.accept(store, _record(caller_name=f"Caller {n}")) for n in range(count)]


def _cases_opened(store: Store) -> list[str]:
    with store.session() as s:
        return [a.case_reference for a in s.execute(
            select(AuditEntry).where(AuditEntry.action == "case_opened")).scalars()]


def _poison(bad_id: int, exc: BaseException) -> object:
    """A notify step that fails for one message only, after its case is written."""
    def notify(ctx: object) -> None:
        if ctx.message.id == bad_id:  # type: ignore[attr-defined]
            raise exc
    return notify


def test_a_batch_with_one_poisoned_message_quarantines_it_alone(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _accept_many(store, 4)
    unreadable = pipeline.accept(store, IntakeRecord(
        channel="phone", external_id="phone-broken", received_at=NOW, raw=b"{not json",
        sender="op-7"))
    steps = list(pipeline.STEPS)
    from intake.errors import InputError

    monkeypatch.setattr(pipeline, "STEPS", (*steps, _poison(ids[1], InputError("bad form"))))
    outcomes = pipeline.process_pending(store, settings=settings, batch_size=10)
    got = {o.message_id: o.disposition for o in outcomes}
    assert got == {ids[0]: "new_case", ids[1]: "quarantined", ids[2]: "new_case",
                   ids[3]: "new_case", unreadable: "quarantined"}
    assert _count(store, Case) == 3
    opened = _cases_opened(store)  # the rolled-back batch left no trace
    assert len(opened) == 3 and len(set(opened)) == 3
    with store.session() as s:
        bad = s.get(Message, ids[1])
        assert bad is not None and bad.case_id is None and bad.reason == "bad form"
        assert bad.attempts == 1


def test_an_interrupted_batch_leaves_nothing_half_written(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _accept_many(store, 3)
    steps = list(pipeline.STEPS)
    monkeypatch.setattr(pipeline, "STEPS", (*steps, _poison(ids[2], KeyboardInterrupt())))
    with pytest.raises(KeyboardInterrupt):  # as if the process died mid-batch
        pipeline.process_pending(store, settings=settings, batch_size=10)
    assert _count(store, Case) == 0 and _count(store, Letter) == 0
    assert _count(store, AuditEntry) == 0
    with store.session() as s:
        rows = s.execute(select(Message).order_by(Message.id)).scalars().all()
        assert [(m.disposition, m.attempts, m.subject) for m in rows] == \
            [("pending", 0, None)] * 3
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps))
    outcomes = pipeline.process_pending(store, settings=settings, batch_size=10)
    assert [o.disposition for o in outcomes] == ["new_case"] * 3
    assert len(set(_cases_opened(store))) == 3 and _count(store, Case) == 3


def test_a_message_another_worker_takes_while_a_batch_is_prepared_is_processed_once(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _accept_many(store, 3)
    other = Store(store.url)  # a second worker with its own connections
    prepare_rows = pipeline._prepare_rows
    raced: list[pipeline.Outcome | None] = []

    def prepare_then_race(rows: list[object]) -> list[pipeline.Prepared]:
        prepared = prepare_rows(rows)
        if not raced:  # the other worker goes for the first message in between
            raced.append(None)
            raced[0] = pipeline.process_message(other, ids[0], settings)
        return prepared

    monkeypatch.setattr(pipeline, "_prepare_rows", prepare_then_race)
    try:
        outcomes = pipeline.process_pending(store, settings=settings, batch_size=10)
    finally:
        other.dispose()
    if store.is_postgres:  # the batch claimed its rows first: the other worker skips them
        assert raced == [None]
        assert [o.message_id for o in outcomes] == ids
    else:  # the other worker wrote first: the batch drops the work it prepared for it
        assert raced[0] is not None and raced[0].disposition == "new_case"
        assert [o.message_id for o in outcomes] == ids[1:]
    assert _count(store, Case) == 3
    assert len(_cases_opened(store)) == 3 and _count(store, Letter) == 3


def test_a_store_waits_for_the_sqlite_writer_of_another_process_and_gives_up_in_time(
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl
    import os

    path = f"{sqlite_store.engine.url.database}-writer.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)  # as a worker process holding the lock
    monkeypatch.setattr(writer_lock, "WRITER_TIMEOUT", 0.2)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(pipeline.StoreUnavailable):  # the edge answers 451 or spools
            pipeline.accept(sqlite_store, _record())
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert pipeline.accept(sqlite_store, _record()) > 0
    finally:
        os.close(fd)
    assert _count(sqlite_store, Message) == 1


def test_case_numbers_are_issued_once_and_without_gaps_on_sqlite(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite counts a batch's numbers in memory and writes the counter once; a batch that
    rolls back takes its numbers with it."""
    from intake.cases.models import ReferenceCounter
    from intake.errors import InputError

    ids = _accept_many(store, 4)
    steps = list(pipeline.STEPS)
    monkeypatch.setattr(pipeline, "STEPS", (*steps, _poison(ids[1], InputError("bad form"))))
    pipeline.process_pending(store, settings=settings, batch_size=10)  # then one by one
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps))
    more = [pipeline.accept(store, _record(caller_name=f"Later {n}")) for n in range(3)]
    outcomes = pipeline.process_pending(store, settings=settings, batch_size=10)
    assert [o.message_id for o in outcomes] == more
    with store.session() as s:
        refs = list(s.execute(select(Case.reference).order_by(Case.id)).scalars())
        counter = s.execute(select(ReferenceCounter.last)).scalar_one()
    numbers = [int(ref.rsplit("-", 1)[1]) for ref in refs]
    assert len(numbers) == 6 and len(set(numbers)) == 6
    if not store.is_postgres:  # PostgreSQL may leave gaps (its own short transactions)
        assert numbers == [1, 2, 3, 4, 5, 6] and counter == 6
    assert counter >= max(numbers)


def test_a_batch_writes_every_row_of_every_case(store: Store, settings: Settings) -> None:
    """Labels, deadlines and audit rows go in once per batch, each with its own case."""
    from intake.cases.models import Deadline, Label

    _accept_many(store, 3)
    pipeline.process_pending(store, settings=settings, batch_size=10)
    with store.session() as s:
        for case in s.execute(select(Case)).scalars():
            assert {label.name for label in case.labels} >= {"intent", "regime",
                                                             "safeguarding"}
            assert {d.kind for d in case.deadlines} >= {"acknowledge_by"}
            actions = sorted(s.execute(select(AuditEntry.action).where(
                AuditEntry.case_reference == case.reference)).scalars())
            assert actions == ["case_opened", "letter_prepared"]
        assert _count(store, Label) >= 9 and _count(store, Deadline) >= 3
        letters = s.execute(select(Letter)).scalars().all()
        assert len(letters) == 3


def test_postgres_takes_case_numbers_for_the_whole_batch_at_once(
        store: Store, settings: Settings) -> None:
    """One bump of the counter per batch; a message that opens no case leaves a gap."""
    from dataclasses import replace

    from intake.cases.models import ReferenceCounter

    if not store.is_postgres:
        pytest.skip("SQLite numbers are gap-free (see above)")
    record = _record(caller_name="First")
    first = pipeline.accept(store, record)
    again = pipeline.accept(store, replace(record))  # the same external id again
    last = pipeline.accept(store, _record(caller_name="Last"))
    outcomes = pipeline.process_pending(store, settings=settings, batch_size=10)
    assert [(o.message_id, o.disposition) for o in outcomes] == [
        (first, "new_case"), (again, "duplicate"), (last, "new_case")]
    with store.session() as s:
        refs = list(s.execute(select(Case.reference).order_by(Case.id)).scalars())
        counter = s.execute(select(ReferenceCounter.last)).scalar_one()
    assert [int(ref.rsplit("-", 1)[1]) for ref in refs] == [1, 2] and counter == 3


def test_accept_stores_the_raw_row_with_its_defaults(store: Store) -> None:
    """accept() inserts with one Core statement: the columns' defaults still apply."""
    record = IntakeRecord(channel="email", external_id="x" * 600, received_at=NOW,
                          raw=b"Subject: hi\r\n\r\nbody\r\n", sender="a@school.example",
                          recipients=("enquiries@localhost",))
    first = pipeline.accept(store, record)
    assert pipeline.accept(store, record) == first + 1
    with store.session() as s:
        msg = s.get(Message, first)
        assert msg is not None
        assert (msg.disposition, msg.attempts, msg.headers, msg.parse_notes) == \
            ("pending", 0, {}, [])
        assert msg.created_at is not None and msg.raw == record.raw
        assert len(msg.external_id) == 512 and msg.recipients == ["enquiries@localhost"]


def test_a_batch_finds_its_earlier_deliveries_with_one_query(
        store: Store, settings: Settings) -> None:
    """The originals of a batch's messages are read together: a delivery of an earlier
    batch's message is a duplicate of it, the same external id on another channel is
    not, and a new message is left alone."""
    from dataclasses import replace

    from sqlalchemy import event

    record = _record(caller_name="First")
    first = pipeline.accept(store, record)
    pipeline.process_pending(store, settings=settings)
    ids = [pipeline.accept(store, replace(record)),
           pipeline.accept(store, replace(record, channel="email", raw=b"Subject: x\r\n\r\nx")),
           pipeline.accept(store, _record(caller_name="Second"))]
    lookups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "external_id IN" in statement or "external_id = " in statement:
            lookups.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        outcomes = pipeline.process_batch(store, ids, settings)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    by_id = {o.message_id: o.disposition for o in outcomes}
    assert by_id[ids[0]] == "duplicate"
    assert by_id[ids[1]] != "duplicate" and by_id[ids[2]] == "new_case"
    assert len(lookups) == 1
    with store.session() as s:
        again = s.get(Message, ids[0])
        original = s.get(Message, first)
        assert again is not None and original is not None
        assert again.duplicate_of_id == first and again.case_id == original.case_id
