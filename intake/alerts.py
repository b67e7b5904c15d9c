"""Urgent alerts: a child at risk now, or a request to withhold a report (48 hours).

An alert goes to the duty email address at once (so it never depends on Slack) and to the
Slack triage channel when configured, and stays open until a person acknowledges it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from intake.cases.audit import SYSTEM, audit
from intake.cases.models import Alert, Case
from intake.settings import Settings

SUBJECTS = {
    "safeguarding": "URGENT safeguarding: case {ref} may involve a child at risk",
    "withhold": "URGENT: request to withhold publication, case {ref} (48 hours)",
}


def alert_text(case: Case, kind: str, ack_url: str) -> str:
    """Structured facts only: no complaint text and no names (004_… para 80)."""
    return (
        f"Case {case.reference} ({case.channel}, {case.intent}, regime {case.regime}) needs "
        f"urgent attention: {kind}.\n"
        f"Received: {case.received_at.isoformat()}\n"
        f"Acknowledge this alert: {ack_url}\n"
    )


def new_alert(case: Case, kind: str) -> Alert:
    """An alert for ``case`` (inserted or not) whose first notice goes out with it
    (``send_first_notice``, once it has its id): already counted as sent, so its row
    needs no UPDATE after."""
    return Alert(case=case, kind=kind, token=secrets.token_urlsafe(24), sends=1,
                 last_sent_at=datetime.now(UTC))


def send_first_notice(session: Session, case: Case, alert: Alert, settings: Settings) -> None:
    """The first notice of a :func:`new_alert` (inserted: the notice names its id)."""
    _send(session, case, alert, settings, to=settings.duty_email)


def raise_alert(session: Session, case: Case, kind: str, settings: Settings) -> Alert:
    """Open an alert and send its first notice by email and Slack (queued rows)."""
    alert = new_alert(case, kind)
    session.add(alert)
    session.flush()
    send_first_notice(session, case, alert, settings)
    audit(session, SYSTEM, "alert_raised", case.reference, kind=kind, alert_id=alert.id)
    return alert


def send_alert_notice(session: Session, case: Case, alert: Alert, settings: Settings,
                      *, to: str | None) -> None:
    """Send the alert's notice again (a reminder): counted on the alert."""
    alert.sends += 1
    alert.last_sent_at = datetime.now(UTC)
    _send(session, case, alert, settings, to=to)


def _send(session: Session, case: Case, alert: Alert, settings: Settings,
          *, to: str | None) -> None:
    ack_url = f"{settings.public_url.rstrip('/')}/alerts/ack/{alert.token}"
    if to:
        from intake.email.outbox import queue_email

        queue_email(session, key=f"alert:{alert.id}:{alert.sends}", to=[to],
                    subject=SUBJECTS[alert.kind].format(ref=case.reference),
                    text=alert_text(case, alert.kind, ack_url), html=None, purpose="alert",
                    settings=settings)
    if settings.slack_mode != "off" and settings.slack_triage_channel:
        from bot.notify import enqueue_alert

        enqueue_alert(session, case, alert, settings)
