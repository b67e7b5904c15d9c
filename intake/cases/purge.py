"""``intake-bot purge``: delete the personal data of old closed cases.

What goes: inbound messages (raw bytes, text, attachments and their files), letters, outbox
entries, the complainant's details, extracted fields, labels' and deadlines' rows, Slack
queue rows and alerts. What stays: an anonymised audit row per case (reference, dates,
intent, regime, outcome), so the numbers still add up. The earlier audit entries of the
case are reduced to their action and time.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.models import (
    Alert,
    Attachment,
    AuditEntry,
    Case,
    CaseLink,
    Complainant,
    Message,
    OutboxItem,
    ReplyLog,
    SlackPost,
)
from intake.rules.deadlines import LONDON
from intake.settings import Settings


def _delete_files(session: Session, paths: list[str]) -> None:
    """Attachment files are named by hash and may be shared: delete only unused ones."""
    for p in set(paths):
        still_used = session.execute(select(Attachment.id).where(Attachment.path == p)
                                     .limit(1)).first()
        if still_used is None:
            Path(p).unlink(missing_ok=True)


def _redact_slack(session: Session, case: Case) -> None:
    """Queue chat.update calls that blank every Slack message the bot posted for the case."""
    posted = session.execute(select(SlackPost).where(
        SlackPost.case_id == case.id, SlackPost.result_ts.is_not(None))).scalars().all()
    targets = {(p.payload.get("channel"), p.result_ts) for p in posted}
    if case.slack_channel and case.slack_ts:
        targets.add((case.slack_channel, case.slack_ts))
    for channel, ts in sorted(t for t in targets if t[0] and t[1]):
        text = f"Case {case.reference}: personal data removed under the retention policy."
        session.add(SlackPost(method="chat.update", purpose="redact", priority=8,
                              payload={"channel": channel, "ts": ts, "text": text,
                                       "blocks": []}))


def purge_case(session: Session, case: Case, actor: str) -> None:
    """Remove one closed case's personal data, keeping an anonymised audit row."""
    msg_ids = [m.id for m in session.execute(
        select(Message).where(Message.case_id == case.id)).scalars()]
    files = [p for p in session.execute(select(Attachment.path).where(
        Attachment.message_id.in_(msg_ids))).scalars() if p]
    letter_ids = [lt.id for lt in case.letters]
    _redact_slack(session, case)
    session.execute(delete(OutboxItem).where(OutboxItem.letter_id.in_(letter_ids)))
    session.execute(delete(Attachment).where(Attachment.message_id.in_(msg_ids)))
    session.execute(update(Message).where(Message.duplicate_of_id.in_(msg_ids))
                    .values(duplicate_of_id=None))
    session.execute(delete(Message).where(Message.id.in_(msg_ids)))
    for model in (SlackPost, Alert):
        session.execute(delete(model).where(model.case_id == case.id))
    session.execute(delete(CaseLink).where((CaseLink.case_id == case.id)
                                           | (CaseLink.other_case_id == case.id)))
    session.execute(update(AuditEntry).where(AuditEntry.case_reference == case.reference)
                    .values(detail={}))
    summary = {"received": case.received_at.date().isoformat(),
               "closed": case.closed_at.date().isoformat() if case.closed_at else None,
               "intent": case.intent, "regime": case.regime, "channel": case.channel,
               "messages": len(msg_ids), "letters": len(letter_ids)}
    complainant = case.complainant
    session.delete(case)
    session.flush()
    if complainant is not None:
        session.execute(delete(Complainant).where(Complainant.id == complainant.id))
    audit(session, actor, "purged", case.reference, **summary)
    session.flush()
    _delete_files(session, files)


def closed_before(session: Session, cutoff: date) -> list[Case]:
    limit = datetime.combine(cutoff, time.min, tzinfo=UTC)
    return list(session.execute(select(Case).where(
        Case.status == "closed", Case.closed_at.is_not(None), Case.closed_at < limit)
        .order_by(Case.id)).scalars())


def purge_unlinked_messages(session: Session, before: datetime) -> int:
    """Messages that never became part of a case (spam, bounces, auto-replies, lists)."""
    rows = session.execute(select(Message).where(
        Message.case_id.is_(None), Message.received_at < before,
        Message.disposition.not_in(("pending", "failed", "quarantined")))).scalars().all()
    ids = [m.id for m in rows]
    session.execute(update(Message).where(Message.duplicate_of_id.in_(ids))
                    .values(duplicate_of_id=None))
    for msg in rows:
        session.delete(msg)
    return len(ids)


def purge_sent_outbox(session: Session, before: datetime) -> int:
    """The raw copy of mail already sent; the letter itself stays with its case."""
    result = session.execute(delete(OutboxItem).where(OutboxItem.status == "sent",
                                                      OutboxItem.sent_at < before))
    return result.rowcount or 0


def apply_retention(session: Session, settings: Settings, now: datetime,
                    actor: str = "retention") -> dict[str, int]:
    """Every retention period in docs/data-protection.md, applied once."""
    cases = closed_before(session, (now - timedelta(days=settings.retention_closed_case_days)
                                    ).date())
    for case in cases:
        purge_case(session, case, actor)
    counts = {
        "cases": len(cases),
        "unlinked_messages": purge_unlinked_messages(
            session, now - timedelta(days=settings.retention_unlinked_message_days)),
        "sent_outbox": purge_sent_outbox(
            session, now - timedelta(days=settings.retention_sent_outbox_days)),
        "reply_log": session.execute(delete(ReplyLog).where(
            ReplyLog.day < (now - timedelta(days=2)).date())).rowcount or 0,
    }
    audit(session, actor, "retention_applied", None, **counts)
    return counts


@click.command("purge")
@click.option("--closed-before", "cutoff", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="purge cases closed before this date (YYYY-MM-DD)")
@click.option("--retention", is_flag=True, help="apply every configured retention period")
@click.option("--dry-run", is_flag=True, help="list what would be purged")
def purge_command(cutoff: datetime | None, retention: bool, dry_run: bool) -> None:
    """Delete personal data of old closed cases, keeping anonymised audit rows."""
    from intake.runner import open_store
    from intake.settings import get_settings

    if cutoff is None and not retention:
        raise click.UsageError("give --closed-before DATE or --retention")
    if cutoff is not None and cutoff.date() > datetime.now(LONDON).date():
        # A date in the future purges every closed case: far more likely a mistyped year.
        raise click.BadParameter(f"{cutoff:%Y-%m-%d} is in the future",
                                 param_hint="--closed-before")
    store = open_store()
    with store.session() as session:
        if retention:
            counts = apply_retention(session, get_settings(), datetime.now(UTC))
            click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
        if cutoff is not None:
            cases = closed_before(session, cutoff.date())
            for case in cases:
                click.echo(case.reference)
                if not dry_run:
                    purge_case(session, case, "purge")
            click.echo(f"{'would purge' if dry_run else 'purged'} {len(cases)} case(s)",
                       err=True)
        if dry_run:
            session.rollback()
    sys.exit(0)
