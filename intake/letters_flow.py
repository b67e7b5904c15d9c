"""Sending a letter that is ready: to the outbox for email, to the case thread for post.

Used by the pipeline for letters that go at once, and by staff approving a held letter.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.models import Case, Letter, Message
from intake.settings import Settings


def _thread_ids(session: Session, case: Case, letter: Letter) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a letter answering the case's first email."""
    first: Message | None = next((m for m in case.messages if m.channel == "email"), None)
    in_reply_to = letter.in_reply_to
    refs: list[str] = []
    if first is not None:
        refs = list(first.headers.get("references", []) or [])
        if in_reply_to and in_reply_to not in refs:
            refs.append(in_reply_to)
    return in_reply_to, refs


def dispatch_letter(session: Session, case: Case, letter: Letter, settings: Settings) -> None:
    """Queue one letter for delivery; idempotent (the outbox key is the letter id)."""
    if letter.delivery == "email" and letter.recipient:
        from intake.email.can_acknowledge import record_reply
        from intake.email.outbox import queue_letter_email

        in_reply_to, refs = _thread_ids(session, case, letter)
        queue_letter_email(session, letter, case, to=letter.recipient,
                           in_reply_to=in_reply_to, references=refs, settings=settings)
        record_reply(session, letter.recipient)
        letter.status = "queued"
    elif letter.delivery == "post" and settings.slack_mode != "off" \
            and settings.slack_triage_channel:
        from bot.notify import enqueue_printable_letter

        enqueue_printable_letter(session, case, letter, settings)


def release_letter(session: Session, case: Case, letter: Letter, actor: str,
                   settings: Settings) -> None:
    """Staff approved a held letter: send it now, and record who approved it."""
    if letter.status != "held":
        raise ValueError(f"letter {letter.id} is {letter.status}, not held")
    letter.status = "queued"
    letter.approved_by = actor
    letter.hold_reason = None
    dispatch_letter(session, case, letter, settings)
    audit(session, actor, "letter_approved", case.reference, letter_id=letter.id,
          kind=letter.kind)


def mark_sent(letter: Letter) -> None:
    letter.status = "sent"
    letter.sent_at = datetime.now(UTC)
