"""Threading: a reply to one of our letters joins its case instead of opening a new one.

A reply joins when its In-Reply-To or References name one of our letters (or an earlier
inbound message of the case), or when its subject names the case reference and it comes
from the case's complainant. A reference in the subject alone, from anyone else, is not
enough (PRODUCT.md, Trust): anyone can type a reference, so that mail opens a new case with
a proposed link instead (see :func:`subject_reference_case`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cases.models import Case, Letter, Message, OutboxItem
from intake.cases.references import find_references
from intake.records import ParsedMessage

HEADERS = "headers"
SUBJECT_AND_COMPLAINANT = "subject+complainant"


@dataclass(frozen=True)
class ThreadMatch:
    case: Case
    how: str  # "headers" | "subject+complainant"


def find_case(session: Session, parsed: ParsedMessage, sender: str) -> ThreadMatch | None:
    """The case this mail replies to, and how we know; None for a new conversation."""
    case = _case_by_headers(session, parsed.in_reply_to)
    if case is not None:
        return ThreadMatch(case, HEADERS)
    for case in _cases_named(session, parsed):
        if _from_complainant(case, parsed, sender):
            return ThreadMatch(case, SUBJECT_AND_COMPLAINANT)
    return None


def subject_reference_case(session: Session, parsed: ParsedMessage) -> Case | None:
    """The first case named in the subject (for a proposed link when it did not join)."""
    cases = _cases_named(session, parsed)
    return cases[0] if cases else None


def _case_by_headers(session: Session, ids: list[str]) -> Case | None:
    """Newest first: our letters' Message-IDs, then earlier inbound mail of a case."""
    if not ids:
        return None
    letter = session.execute(
        select(Letter).where(Letter.message_id.in_(ids)).order_by(Letter.id.desc()).limit(1)
    ).scalar_one_or_none()
    if letter is not None:
        return letter.case
    item = session.execute(
        select(OutboxItem).where(OutboxItem.message_id.in_(ids), OutboxItem.letter_id.is_not(None))
        .order_by(OutboxItem.id.desc()).limit(1)
    ).scalar_one_or_none()
    if item is not None and item.letter_id is not None:
        return session.get(Letter, item.letter_id).case  # type: ignore[union-attr]
    earlier = session.execute(
        select(Message).where(Message.channel == "email", Message.external_id.in_(ids),
                              Message.case_id.is_not(None))
        .order_by(Message.id.desc()).limit(1)
    ).scalar_one_or_none()
    return earlier.case if earlier is not None else None


def _cases_named(session: Session, parsed: ParsedMessage) -> list[Case]:
    refs = find_references(parsed.subject)
    if not refs:
        return []
    found = {c.reference: c for c in session.execute(
        select(Case).where(Case.reference.in_(refs))).scalars()}
    return [found[r] for r in refs if r in found]


def _from_complainant(case: Case, parsed: ParsedMessage, sender: str) -> bool:
    """The From address is the complainant's (the envelope sender when there is no From).

    The envelope sender alone is not compared when From is present: forwarding services
    rewrite it (SRS), and upstream DMARC failures are already screened out as spam.
    """
    person = case.complainant
    known = (person.email or "").strip().lower() if person else ""
    if not known:
        return False
    author = (parsed.contact.email or "").strip().lower()
    if author:
        return author == known
    return sender.strip().lower() == known
