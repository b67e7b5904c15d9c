"""Reminders, run by ``intake-bot serve``: digests, milestones, held letters, alert re-sends.

Each pass of :class:`ReminderScheduler` does four things (issue 5 item 6; issue 7 item 2):

1. a daily digest in the triage channel, on working days from ``DIGEST_HOUR``: cases due
   within 3 working days, and overdue ones;
2. internal milestones on their due date: the JAR progress-update prompt before day 20
   (``001_…`` para 9) and the JTAI milestones (``004_…`` Annex D), in the case's thread;
3. a held letter nobody has approved: staff are warned when its acknowledgement deadline
   is the next working day or sooner. One held only for label review is then sent as
   classified on the deadline day from ``RELEASE_HOUR`` (PRODUCT.md, Letters), but never
   sooner than ``MIN_REVIEW`` after it was held, so a late arrival still gets a look.
   Others (pasted in Slack, a doubtful address) need a person, and letters paused by an
   operator stay paused;
4. an urgent alert not acknowledged within ``duty_ack_minutes`` is sent again, to Slack
   and the duty address, and escalated to ``duty_escalation_email``.

Several processes may share one PostgreSQL database. A reminder is claimed by inserting
its :class:`ReminderSent` key in the same transaction as the post it queues; the unique
key makes a second process's insert fail, so each reminder goes out once. A held letter is
claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` plus a re-check of its status, and an
alert re-send with a conditional update of the time it was last sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from intake.cases.audit import SYSTEM, audit
from intake.cases.db import Store
from intake.cases.facts import MAIN_DEADLINES
from intake.cases.models import Alert, Case, Deadline, Letter, ReminderSent, SlackPost
from intake.cases.queries import DueItem, due_within, overdue, working_days_ahead
from intake.rules.deadlines import LONDON
from intake.rules.rulebook import get_rulebook
from intake.rules.working_days import is_working_day
from intake.settings import Settings
from intake.steps.letter import REVIEW_REASON

log = logging.getLogger(__name__)

DIGEST_HOUR = 8  # local time; the digest waits for the working day to start
RELEASE_HOUR = 15  # local time on the deadline day: late enough for staff, same day
MIN_REVIEW = timedelta(hours=2)  # the least time staff get to look at a held letter
DIGEST_WORKING_DAYS = 3
POLL_SECONDS = 60.0
PRIORITY = {"alert": 0, "escalation": 1, "digest": 4, "thread": 6}
MILESTONE_WORDS = {
    "progress_update": ("JAR progress update due: if the response will not be sent within "
                        "20 working days, tell the complainant of progress (001_… para 9)"),
    "inspectorates_comments": "JTAI milestone: inspectorates' comments due (004_… Annex D)",
    "draft_response": "JTAI milestone: draft response due (004_… Annex D)",
    "draft_comments": "JTAI milestone: comments on the draft response due (004_… Annex D)",
    "final_letter": "JTAI milestone: final letter due (004_… Annex D)",
    "response_sent": "JTAI milestone: response to be sent (004_… Annex D)",
}


@dataclass
class PassReport:
    """What one pass did (for logs and tests)."""

    digests: int = 0
    milestones: int = 0
    held_warnings: int = 0
    held_released: int = 0
    alerts_resent: int = 0
    errors: list[str] = field(default_factory=list)


def claim(session: Session, key: str, case_id: int | None = None) -> bool:
    """Insert the reminder's key; False when another process (or pass) already did."""
    try:
        with session.begin_nested():
            session.add(ReminderSent(key=key, case_id=case_id))
    except IntegrityError:
        return False
    return True


def _post(session: Session, settings: Settings, purpose: str, text: str, *,
          case: Case | None = None, thread: bool = False,
          blocks: list[dict[str, Any]] | None = None) -> None:
    payload: dict[str, Any] = {"channel": (case.slack_channel if case else None)
                               or settings.slack_triage_channel, "text": text,
                               "blocks": blocks or [{"type": "section", "text": {
                                   "type": "mrkdwn", "text": text[:2900]}}]}
    if thread:
        payload["_thread_of_case"] = True
    session.add(SlackPost(method="chat.postMessage", payload=payload, purpose=purpose,
                          priority=PRIORITY.get(purpose, 5),
                          case_id=case.id if case else None))


def _slack_on(settings: Settings) -> bool:
    return settings.slack_mode != "off" and bool(settings.slack_triage_channel)


def _mention(case: Case, settings: Settings) -> str:
    if case.assignee:
        return f"<@{case.assignee}> "
    if settings.slack_alert_group:
        return f"<!subteam^{settings.slack_alert_group}> "
    return ""


# --- 1. the daily digest --------------------------------------------------------------


def digest_text(today: date, soon: list[DueItem], late: list[DueItem]) -> str:
    from bot.commands import item_line

    lines = [f"*Daily digest for {today.isoformat()}*",
             f"*Overdue* ({len(late)})"] + [item_line(i, today) for i in late[:40]]
    lines += [f"*Due within {DIGEST_WORKING_DAYS} working days* ({len(soon)})"]
    lines += [item_line(i, today) for i in soon[:40]]
    if not soon and not late:
        lines.append("Nothing due and nothing overdue.")
    return "\n".join(lines)


def send_digest(session: Session, settings: Settings, now: datetime) -> bool:
    local = now.astimezone(LONDON)
    today = local.date()
    if local.hour < DIGEST_HOUR or not is_working_day(today, get_rulebook().closures):
        return False
    if not claim(session, f"digest:{today.isoformat()}"):
        return False
    soon = due_within(session, today, DIGEST_WORKING_DAYS)
    late = overdue(session, today)
    _post(session, settings, "digest", digest_text(today, soon, late))
    return True


# --- 2. milestones --------------------------------------------------------------------


def _due_milestones(session: Session, today: date) -> list[tuple[Deadline, Case]]:
    rows = session.execute(
        select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
        .where(Case.status != "closed", Deadline.superseded_at.is_(None),
               Deadline.met_at.is_(None), Deadline.due_date <= today,
               Deadline.kind.not_in(MAIN_DEADLINES))
        .order_by(Deadline.due_date, Deadline.id)).all()
    return [(d, c) for d, c in rows]


def remind_milestone(session: Session, settings: Settings, deadline: Deadline,
                     case: Case) -> bool:
    key = f"milestone:{case.id}:{deadline.kind}:{deadline.due_date}"
    if not claim(session, key, case.id):
        return False
    words = MILESTONE_WORDS.get(deadline.kind, deadline.kind.replace("_", " ") + " due")
    respond = (case.deadline_summary or {}).get("respond_by")
    text = (f"{_mention(case, settings)}{case.reference}: {words}, "
            f"{deadline.due_date.isoformat() if deadline.due_date else ''}"
            f" (rule `{deadline.rule}`). Response due {respond or 'not set'}.")
    _post(session, settings, "thread", text, case=case, thread=True)
    audit(session, SYSTEM, "reminder_sent", case.reference, kind=deadline.kind,
          due=str(deadline.due_date))
    return True


# --- 3. held acknowledgements ---------------------------------------------------------


@dataclass(frozen=True)
class HeldLetter:
    letter_id: int
    case_id: int
    reference: str
    acknowledge_by: date
    hold_reason: str
    held_at: datetime

    @property
    def lapses(self) -> bool:
        """Sent as classified at the deadline when only the label review held it."""
        return self.hold_reason == REVIEW_REASON

    @property
    def release_at(self) -> datetime:
        """When it goes unapproved: the deadline day at RELEASE_HOUR, after MIN_REVIEW."""
        deadline = datetime.combine(self.acknowledge_by, time(RELEASE_HOUR), tzinfo=LONDON)
        return max(deadline, self.held_at + MIN_REVIEW)


def held_letters(session: Session) -> list[HeldLetter]:
    """Held letters of open cases with their acknowledgement date (operator pauses aside)."""
    from intake.switches import PAUSED_REASON

    rows = session.execute(
        select(Letter.id, Case.id, Case.reference, Deadline.due_date, Letter.hold_reason,
               Letter.created_at)
        .join(Case, Case.id == Letter.case_id)
        .join(Deadline, (Deadline.case_id == Case.id) & (Deadline.kind == "acknowledge_by"))
        .where(Letter.status == "held", Case.status != "closed",
               Deadline.superseded_at.is_(None))
        .order_by(Deadline.due_date, Letter.id)).all()
    return [HeldLetter(lid, cid, ref, due, reason or "", held_at)
            for lid, cid, ref, due, reason, held_at in rows if (reason or "") != PAUSED_REASON]


def _preview_button(held: HeldLetter) -> dict[str, Any]:
    from bot.triage import PREVIEW_LETTER

    return {"type": "actions", "block_id": f"held:{held.letter_id}", "elements": [{
        "type": "button", "action_id": f"{PREVIEW_LETTER}:{held.letter_id}",
        "value": f"{held.reference}|{held.letter_id}", "style": "primary",
        "text": {"type": "plain_text", "text": "Preview and approve"}}]}


def warn_held(session: Session, settings: Settings, held: HeldLetter) -> bool:
    if not claim(session, f"held_warn:{held.letter_id}", held.case_id):
        return False
    case = session.get(Case, held.case_id)
    assert case is not None
    when = held.release_at.astimezone(LONDON)
    then = (f"If nobody approves it, it is sent as classified at {when:%H:%M} on "
            f"{when.date().isoformat()}." if held.lapses else "It needs a person to approve it.")
    text = (f"{_mention(case, settings)}:hourglass: {case.reference}: a letter is held "
            f"({held.hold_reason}) and the acknowledgement is due by "
            f"{held.acknowledge_by.isoformat()}. {then}")
    _post(session, settings, "escalation", text, case=case, blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": text}}, _preview_button(held)])
    audit(session, SYSTEM, "held_letter_escalated", case.reference, letter_id=held.letter_id,
          acknowledge_by=held.acknowledge_by.isoformat())
    return True


def release_held(session: Session, settings: Settings, held: HeldLetter,
                 store: Store) -> bool:
    """Send an unapproved acknowledgement as classified, once, and tell staff."""
    from intake.letters_flow import release_letter

    query = select(Letter).where(Letter.id == held.letter_id, Letter.status == "held")
    if store.is_postgres:
        query = query.with_for_update(skip_locked=True)
    letter = session.scalar(query)
    if letter is None or not claim(session, f"held_release:{held.letter_id}", held.case_id):
        return False
    case = letter.case
    release_letter(session, case, letter, SYSTEM, settings)
    audit(session, SYSTEM, "held_letter_sent_unapproved", case.reference, letter_id=letter.id,
          acknowledge_by=held.acknowledge_by.isoformat())
    if _slack_on(settings):
        text = (f"{_mention(case, settings)}:warning: {case.reference}: nobody approved the "
                f"held acknowledgement by its deadline "
                f"({held.acknowledge_by.isoformat()}), so it was sent as classified. "
                "Check the labels.")
        _post(session, settings, "escalation", text, case=case)
    return True


# --- 4. unacknowledged alerts ---------------------------------------------------------


def _due_alerts(session: Session, cutoff: datetime) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.acked_at.is_(None),
                                                    Alert.last_sent_at <= cutoff)
                                .order_by(Alert.id).limit(50)))


def resend_alert(session: Session, settings: Settings, alert: Alert, now: datetime) -> bool:
    """Send the alert again, and to the escalation address (claimed by a conditional
    update, so several processes send it once)."""
    from intake.alerts import SUBJECTS, alert_text, send_alert_notice

    # Still due when the row is written: another process that re-sent it first has moved
    # last_sent_at past the cutoff (PostgreSQL re-checks this against the committed row).
    cutoff = now - timedelta(minutes=settings.duty_ack_minutes)
    won = session.execute(update(Alert).where(Alert.id == alert.id, Alert.acked_at.is_(None),
                                              Alert.last_sent_at <= cutoff)
                          .values(last_sent_at=now)).rowcount  # type: ignore[attr-defined]
    if won != 1:
        return False
    session.refresh(alert)
    case = session.get(Case, alert.case_id)
    assert case is not None
    send_alert_notice(session, case, alert, settings, to=settings.duty_email)
    alert.last_sent_at = now  # the scheduler's clock, which the next pass compares with
    audit(session, SYSTEM, "alert_resent", case.reference, alert_id=alert.id,
          sends=alert.sends)
    if settings.duty_escalation_email:
        from intake.email.outbox import queue_email

        url = f"{settings.public_url.rstrip('/')}/alerts/ack/{alert.token}"
        queue_email(session, key=f"alert:{alert.id}:{alert.sends}:escalation",
                    to=[settings.duty_escalation_email],
                    subject="ESCALATED: " + SUBJECTS[alert.kind].format(ref=case.reference),
                    text=("Nobody has acknowledged this alert yet.\n\n"
                          + alert_text(case, alert.kind, url)),
                    html=None, purpose="alert", settings=settings)
        if alert.escalated_at is None:
            alert.escalated_at = now
            audit(session, SYSTEM, "alert_escalated", case.reference, alert_id=alert.id,
                  to="duty_escalation_email")
    return True


# --- the scheduler --------------------------------------------------------------------


class ReminderScheduler:
    """Runs :meth:`run_once` every ``poll_seconds`` until stopped; never raises."""

    def __init__(self, store: Store, settings: Settings, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.settings = settings
        self.poll_seconds = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await asyncio.to_thread(self.run_once, datetime.now(UTC))
            except Exception:  # noqa: BLE001 - reminders must outlive any one bad pass
                log.exception("reminder pass failed; trying again at the next poll")
            else:
                if report.errors:
                    log.error("reminders: %d step(s) failed: %s", len(report.errors),
                              ", ".join(report.errors))
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    def _each(self, report: PassReport, name: str, fn: Any, *args: Any) -> bool:
        """Run one reminder in its own transaction; a failure is logged, not fatal."""
        try:
            with self.store.session() as session:
                return bool(fn(session, self.settings, *args))
        except (SQLAlchemyError, ValueError, OSError) as exc:
            report.errors.append(f"{name}: {type(exc).__name__}")
            return False
        except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
            log.exception("reminder %s failed", name)
            report.errors.append(f"{name}: {type(exc).__name__}")
            return False

    def _read(self, fn: Any, *args: Any) -> Any:
        with self.store.session() as session:
            return fn(session, *args)

    def run_once(self, now: datetime) -> PassReport:
        """One pass at ``now`` (aware); returns what it did."""
        report = PassReport()
        today = now.astimezone(LONDON).date()
        slack = _slack_on(self.settings)
        if slack:
            report.digests += self._each(report, "digest", send_digest, now)
            for deadline, case in self._read(_due_milestones, today):
                report.milestones += self._each(report, "milestone", _by_ids(
                    remind_milestone), deadline.id, case.id)
        self._held_letters(report, now, slack)
        self._alerts(report, now)
        return report

    def _held_letters(self, report: PassReport, now: datetime, slack: bool) -> None:
        local = now.astimezone(LONDON)
        warn_from = working_days_ahead(local.date(), 1)
        for held in self._read(held_letters):
            release = held.lapses and now >= held.release_at
            if release:
                report.held_released += self._each(report, "release", release_held, held,
                                                   self.store)
            elif slack and held.acknowledge_by <= warn_from:
                report.held_warnings += self._each(report, "held", warn_held, held)

    def _alerts(self, report: PassReport, now: datetime) -> None:
        cutoff = now - timedelta(minutes=self.settings.duty_ack_minutes)
        ids = [a.id for a in self._read(_due_alerts, cutoff)]
        for alert_id in ids:
            report.alerts_resent += self._each(report, "alert", _alert_by_id, alert_id, now)


def _by_ids(fn: Any) -> Any:
    """Adapt ``fn(session, settings, deadline, case)`` to take ids (fresh rows per step)."""
    def run(session: Session, settings: Settings, deadline_id: int, case_id: int) -> bool:
        deadline, case = session.get(Deadline, deadline_id), session.get(Case, case_id)
        if deadline is None or case is None:
            return False
        return bool(fn(session, settings, deadline, case))
    return run


def _alert_by_id(session: Session, settings: Settings, alert_id: int, now: datetime) -> bool:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.acked_at is not None:
        return False
    return resend_alert(session, settings, alert, now)
