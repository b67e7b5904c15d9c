"""The reminder scheduler (intake.reminders), on SQLite and PostgreSQL.

Each pass is run at a chosen moment with ``run_once(now)``; what it queues (Slack posts,
outbox mail, audit rows) is read back from the store. Cases are made by the real pipeline
from a phone complaint received Monday 2026-11-23 11:15 London time.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from intake import pipeline
from intake import settings as settings_mod
from intake.cases import actions
from intake.cases.actions import LabelChange
from intake.cases.db import Store
from intake.cases.models import Alert, AuditEntry, Letter, OutboxItem, ReminderSent, SlackPost
from intake.channels.phone import phone_record
from intake.reminders import PassReport, ReminderScheduler
from intake.rules.deadlines import LONDON
from intake.settings import Settings
from tests.test_pipeline import FORM

RECEIVED = datetime(2026, 11, 23, 11, 15, tzinfo=LONDON)


def at(day: str, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock moment, as an aware UTC datetime (what the scheduler gets)."""
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hour, minute, tzinfo=LONDON).astimezone(UTC)


@pytest.fixture
def slack_on(settings: Settings) -> Iterator[Settings]:
    with settings_mod.override_settings(
            database_url=settings.database_url, slack_bot_token="xoxb-t",
            slack_signing_secret="s", slack_triage_channel="C0TRIAGE",
            slack_staff=["U0STAFF"], slack_alert_group="S0DUTY",
            duty_email="duty@example.org", duty_escalation_email="head@example.org",
            duty_ack_minutes=30, review_threshold=0.0) as s:  # holds only where asked
        yield s


def make_case(store: Store, settings: Settings, **form: object) -> str:
    now = RECEIVED.astimezone(UTC)
    record = phone_record({**FORM, "call_time": RECEIVED.isoformat(), **form},
                          operator="op-1", now=now + timedelta(minutes=1))
    outcome = pipeline.process_message(store, pipeline.accept(store, record), settings)
    assert outcome is not None and outcome.case_reference
    with store.session() as s:  # as if processed when the call came, not when tests run
        for letter in actions.find_case(s, outcome.case_reference).letters:
            letter.created_at = now + timedelta(minutes=1)
    return outcome.case_reference


def run_in_four_processes(store: Store, settings: Settings,
                          moment: datetime) -> list[PassReport]:
    """One scheduler pass at ``moment`` from four stores at once, as four processes would."""
    others = [Store(store.url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda st: ReminderScheduler(st, settings).run_once(moment),
                                 [store, *others]))
    finally:
        for other in others:
            other.dispose()


def posts(store: Store, purpose: str) -> list[SlackPost]:
    with store.session() as s:
        return list(s.scalars(select(SlackPost).where(SlackPost.purpose == purpose)
                              .order_by(SlackPost.id)))


def relabel(store: Store, settings: Settings, ref: str, **change: object) -> None:
    with store.session() as s:
        actions.relabel(s, actions.find_case(s, ref), "staff:U0STAFF",
                        LabelChange(**change), settings)  # type: ignore[arg-type]


def test_daily_digest_once_per_working_day_from_8am(store: Store, slack_on: Settings) -> None:
    ref = make_case(store, slack_on, report_published=None)
    relabel(store, slack_on, ref, regime="jar")  # respond by Mon 2026-12-21
    scheduler = ReminderScheduler(store, slack_on)
    assert scheduler.run_once(at("2026-12-16", 7, 59)).digests == 0
    assert scheduler.run_once(at("2026-12-16", 8, 0)).digests == 1
    assert scheduler.run_once(at("2026-12-16", 17, 0)).digests == 0
    assert scheduler.run_once(at("2026-12-19", 9, 0)).digests == 0  # a Saturday
    [digest] = posts(store, "digest")
    text = digest.payload["text"]
    assert "2026-12-16" in text and ref in text and "respond by" in text
    assert "Due within 3 working days* (1)" in text and "Overdue* (0)" in text
    assert digest.payload["channel"] == "C0TRIAGE"
    assert scheduler.run_once(at("2026-12-22", 9, 0)).digests == 1
    assert "Overdue* (1)" in posts(store, "digest")[-1].payload["text"]


def test_several_processes_send_one_digest(store: Store, slack_on: Settings) -> None:
    make_case(store, slack_on)
    reports = run_in_four_processes(store, slack_on, at("2026-11-24", 9, 30))
    assert sum(r.digests for r in reports) == 1
    assert [r.errors for r in reports] == [[], [], [], []]
    assert len(posts(store, "digest")) == 1


def test_jar_progress_update_prompt_in_the_case_thread(store: Store,
                                                      slack_on: Settings) -> None:
    ref = make_case(store, slack_on)
    relabel(store, slack_on, ref, regime="jar")
    scheduler = ReminderScheduler(store, slack_on)
    # 15 working days after Mon 2026-11-23 is Mon 2026-12-14 (001_… para 9: before day 20).
    assert scheduler.run_once(at("2026-12-11", 9)).milestones == 0
    assert scheduler.run_once(at("2026-12-14", 9)).milestones == 1
    assert scheduler.run_once(at("2026-12-15", 9)).milestones == 0
    [note] = posts(store, "thread")[-1:]
    assert note.payload["_thread_of_case"] is True
    assert ref in note.payload["text"] and "JAR progress update" in note.payload["text"]
    assert "2026-12-21" in note.payload["text"]  # the response date it protects
    with store.session() as s:
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.case_reference == ref,
                                                         AuditEntry.action == "reminder_sent")
                         ).all() == ["reminder_sent"]


def test_jtai_milestones_each_on_their_day(store: Store, slack_on: Settings) -> None:
    ref = make_case(store, slack_on)
    relabel(store, slack_on, ref, regime="jtai", aspects=["judgement"])
    scheduler = ReminderScheduler(store, slack_on)
    # 004_… Annex D: comments by 10 working days (Mon 2026-12-07), draft by 20 (12-21).
    assert scheduler.run_once(at("2026-12-04", 9)).milestones == 0
    assert scheduler.run_once(at("2026-12-07", 9)).milestones == 1
    assert "inspectorates' comments" in posts(store, "thread")[-1].payload["text"]
    assert scheduler.run_once(at("2026-12-21", 9)).milestones == 1
    assert "draft response due" in posts(store, "thread")[-1].payload["text"]


def test_closed_cases_get_no_reminders(store: Store, slack_on: Settings) -> None:
    ref = make_case(store, slack_on)
    relabel(store, slack_on, ref, regime="jar")
    with store.session() as s:
        actions.close_case(s, actions.find_case(s, ref), "staff:U0STAFF", "Withdrawn")
    assert ReminderScheduler(store, slack_on).run_once(at("2026-12-14", 9)).milestones == 0


@pytest.fixture
def holding(slack_on: Settings) -> Iterator[Settings]:
    """Every label under review: the acknowledgement is held for staff approval."""
    with settings_mod.override_settings(**{**slack_on.model_dump(),
                                           "review_threshold": 1.0}) as s:
        yield s


def held_letter(store: Store, ref: str) -> Letter:
    with store.session() as s:
        case = actions.find_case(s, ref)
        [letter] = [lt for lt in case.letters if lt.kind == "acknowledgement"]
        return letter


def test_unapproved_held_letter_is_escalated_then_sent_as_classified(
        store: Store, holding: Settings) -> None:
    ref = make_case(store, holding, email="dawn@example.org", email_consent="yes")
    letter = held_letter(store, ref)
    assert letter.status == "held" and letter.hold_reason.startswith("labels below")
    scheduler = ReminderScheduler(store, holding)
    # OFS-2024: acknowledge by the received date (000_… para 16), Mon 2026-11-23.
    morning = scheduler.run_once(at("2026-11-23", 11, 30))
    assert (morning.held_warnings, morning.held_released) == (1, 0)
    [warning] = posts(store, "escalation")
    assert ref in warning.payload["text"] and "<!subteam^S0DUTY>" in warning.payload["text"]
    [button] = warning.payload["blocks"][1]["elements"]
    assert button["value"] == f"{ref}|{letter.id}"
    assert scheduler.run_once(at("2026-11-23", 14, 59)).held_warnings == 0
    assert held_letter(store, ref).status == "held"
    afternoon = scheduler.run_once(at("2026-11-23", 15, 0))
    assert afternoon.held_released == 1
    released = held_letter(store, ref)
    assert (released.status, released.approved_by) == ("queued", "system")
    with store.session() as s:
        items = s.scalars(select(OutboxItem).where(OutboxItem.letter_id == letter.id)).all()
        assert [i.recipients for i in items] == [["dawn@example.org"]]
        audited = s.scalars(select(AuditEntry.action).where(AuditEntry.case_reference == ref)
                            ).all()
        assert "held_letter_escalated" in audited and "held_letter_sent_unapproved" in audited
    assert "sent as classified" in posts(store, "escalation")[-1].payload["text"]
    assert scheduler.run_once(at("2026-11-24", 9)).held_released == 0


def test_a_late_held_letter_still_gets_time_for_review(store: Store,
                                                     holding: Settings) -> None:
    ref = make_case(store, holding, email="dawn@example.org", email_consent="yes")
    with store.session() as s:  # held at 16:30 on its deadline day
        held = [lt for lt in actions.find_case(s, ref).letters if lt.status == "held"][0]
        held.created_at = at("2026-11-23", 16, 30)
    scheduler = ReminderScheduler(store, holding)
    early = scheduler.run_once(at("2026-11-23", 17, 0))
    assert (early.held_warnings, early.held_released) == (1, 0)
    assert "sent as classified at 18:30 on 2026-11-23" in \
        posts(store, "escalation")[0].payload["text"]
    assert scheduler.run_once(at("2026-11-23", 18, 29)).held_released == 0
    assert scheduler.run_once(at("2026-11-23", 18, 30)).held_released == 1


def test_held_letter_released_once_by_several_processes(store: Store,
                                                       holding: Settings) -> None:
    ref = make_case(store, holding, email="dawn@example.org", email_consent="yes")
    letter = held_letter(store, ref)
    # The deadline has passed: release at once.
    reports = run_in_four_processes(store, holding, at("2026-11-24", 9))
    assert sum(r.held_released for r in reports) == 1
    with store.session() as s:
        assert len(s.scalars(select(OutboxItem).where(OutboxItem.letter_id == letter.id)
                             ).all()) == 1
        assert s.scalars(select(ReminderSent.key).where(ReminderSent.key.like("held_release%"))
                         ).all() == [f"held_release:{letter.id}"]


@pytest.mark.parametrize(("reason", "warned"), [
    ("automatic letters are paused", 0),  # an operator's pause: left alone
    ("pasted in Slack: staff approve before sending", 1),  # needs a person: warned only
])
def test_letters_held_for_other_reasons_are_never_sent_unapproved(
        store: Store, slack_on: Settings, reason: str, warned: int) -> None:
    ref = make_case(store, slack_on, email="dawn@example.org", email_consent="yes")
    with store.session() as s:
        letter = [lt for lt in actions.find_case(s, ref).letters
                  if lt.kind == "acknowledgement"][0]
        letter.status, letter.hold_reason = "held", reason
    scheduler = ReminderScheduler(store, slack_on)
    first = scheduler.run_once(at("2026-11-23", 16))
    later = scheduler.run_once(at("2026-11-30", 16))
    assert (first.held_warnings, first.held_released) == (warned, 0)
    assert (later.held_warnings, later.held_released) == (0, 0)
    assert held_letter(store, ref).status == "held"
    if warned:
        assert "needs a person to approve it" in posts(store, "escalation")[0].payload["text"]


def test_unacknowledged_alert_is_resent_and_escalated(store: Store,
                                                     slack_on: Settings) -> None:
    ref = make_case(store, slack_on)
    relabel(store, slack_on, ref, safeguarding=True)
    with store.session() as s:
        alert = s.scalars(select(Alert)).one()
        first_sent = alert.last_sent_at
    scheduler = ReminderScheduler(store, slack_on)
    assert scheduler.run_once(first_sent + timedelta(minutes=29)).alerts_resent == 0
    assert scheduler.run_once(first_sent + timedelta(minutes=31)).alerts_resent == 1
    assert scheduler.run_once(first_sent + timedelta(minutes=40)).alerts_resent == 0
    assert scheduler.run_once(first_sent + timedelta(minutes=62)).alerts_resent == 1
    with store.session() as s:
        mails = s.scalars(select(OutboxItem).where(OutboxItem.purpose == "alert")
                          .order_by(OutboxItem.id)).all()
        assert [(m.idempotency_key.split(":", 2)[-1], m.recipients) for m in mails] == [
            ("1", ["duty@example.org"]), ("2", ["duty@example.org"]),
            ("2:escalation", ["head@example.org"]), ("3", ["duty@example.org"]),
            ("3:escalation", ["head@example.org"])]
        assert b"ESCALATED" in mails[2].raw
        alert = s.scalars(select(Alert)).one()
        assert alert.sends == 3 and alert.escalated_at is not None
        audited = s.scalars(select(AuditEntry.action).where(AuditEntry.case_reference == ref)
                            ).all()
        assert audited.count("alert_resent") == 2 and audited.count("alert_escalated") == 1
    assert len(posts(store, "alert")) == 3  # Slack got it each time, too
    with store.session() as s:
        from intake.alert_ack import acknowledge_alert

        acknowledge_alert(s, s.scalars(select(Alert)).one(), "staff:U0STAFF", "slack",
                          slack_on)
    assert scheduler.run_once(first_sent + timedelta(hours=5)).alerts_resent == 0


async def test_scheduler_outlives_a_failing_pass(tmp_path: object, slack_on: Settings) -> None:
    """A database without tables makes every pass fail; the loop logs it and goes on."""
    import asyncio

    broken = Store(f"sqlite:///{tmp_path}/empty.db")
    scheduler = ReminderScheduler(broken, slack_on, poll_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(0.3)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 5)
    broken.dispose()


def test_several_processes_resend_an_alert_once(store: Store, slack_on: Settings) -> None:
    ref = make_case(store, slack_on)
    relabel(store, slack_on, ref, safeguarding=True)
    with store.session() as s:
        first_sent = s.scalars(select(Alert)).one().last_sent_at
    reports = run_in_four_processes(store, slack_on, first_sent + timedelta(minutes=31))
    assert sum(r.alerts_resent for r in reports) == 1
    with store.session() as s:
        assert s.scalars(select(Alert)).one().sends == 2
        keys = s.scalars(select(OutboxItem.idempotency_key)
                         .where(OutboxItem.purpose == "alert")).all()
        assert sorted(k.split(":", 2)[-1] for k in keys) == ["1", "2", "2:escalation"]
