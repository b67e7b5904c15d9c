"""Bounces of our own letters: matched to the outbox entry and flagged on the letter.

A delivery report names the returned mail by its Message-ID (in the attached original or
its pasted headers), sometimes only through In-Reply-To/References, and at worst only by
the recipient address and the case reference in the returned subject. Letters are sent
with a null envelope sender, so well-behaved servers do not bounce them at all; the ones
that do reach us are from servers that answer the From: address regardless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cases.models import Case, Letter, OutboxItem
from intake.cases.references import find_references
from intake.email.dsn import pasted_message_ids
from intake.records import ParsedMessage

log = logging.getLogger(__name__)

BOUNCED = "bounced"
FLAG = "letter_bounced"


def flag_bounce(session: Session, parsed: ParsedMessage) -> Letter | None:
    """Find the letter a bounce returns; mark it and its outbox entry bounced."""
    report = parsed.headers.get("dsn") or _text_report(parsed)
    ids = list(report.get("original_message_ids", [])) + list(parsed.in_reply_to)
    letter = _by_message_id(session, ids) or _by_recipient_and_reference(session, parsed,
                                                                          report)
    if letter is None:
        return None
    letter.status = BOUNCED
    for item in session.execute(select(OutboxItem).where(OutboxItem.letter_id == letter.id)
                                ).scalars():
        item.status = BOUNCED
        item.last_error = _status_line(report)
    case = letter.case
    if FLAG not in (case.flags or []):
        case.flags = [*(case.flags or []), FLAG]
    case.updated_at = datetime.now(UTC)
    log.info("bounce matched to letter %s of %s", letter.id, case.reference)
    return letter


def _text_report(parsed: ParsedMessage) -> dict[str, object]:
    """What a plain-text bounce tells: pasted Message-IDs and X-Failed-Recipients."""
    failed = str(parsed.headers.get("x-failed-recipients", ""))
    return {"original_message_ids": pasted_message_ids(parsed.text),
            "final_recipients": [a.strip().lower() for a in failed.split(",") if a.strip()]}


def _by_message_id(session: Session, ids: list[str]) -> Letter | None:
    if not ids:
        return None
    return session.execute(
        select(Letter).where(Letter.message_id.in_(ids)).order_by(Letter.id.desc()).limit(1)
    ).scalar_one_or_none()


def _by_recipient_and_reference(session: Session, parsed: ParsedMessage,
                                report: dict[str, object]) -> Letter | None:
    recipients = [str(r).lower() for r in report.get("final_recipients", []) or []]  # type: ignore[attr-defined]
    refs = find_references(str(report.get("original_subject") or "")) or \
        find_references(parsed.text)
    if not (recipients and refs):
        return None
    return session.execute(
        select(Letter).join(Case).where(Case.reference.in_(refs),
                                        Letter.recipient.in_(recipients))
        .order_by(Letter.id.desc()).limit(1)
    ).scalar_one_or_none()


def _status_line(report: dict[str, object]) -> str:
    status = report.get("status") or "unknown"
    action = report.get("action") or "failed"
    return f"bounced: {action} {status}"[:200]
