"""``intake-bot people``: subject access and erasure for one person.

``export`` gathers everything held about an email address or phone number: complainant
records, their cases, inbound messages (with content), letters and the audit trail of
those cases. ``erase`` removes it where no retention rule forbids: closed cases are purged
(anonymised audit row kept), messages that never became a case are deleted, and open cases
are kept (the complaint is still being handled), each with the reason recorded.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import click
import phonenumbers
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.models import AuditEntry, Case, Complainant, Message


def normalise_phone(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _matches_phone(stored: str | None, wanted: str) -> bool:
    return bool(stored) and normalise_phone(stored or "") == wanted


def find_person(session: Session, who: str) -> tuple[list[Complainant], list[Message]]:
    """Complainant rows and inbound messages that belong to this address or number."""
    if "@" in who:
        email = who.strip().lower()
        people = list(session.execute(select(Complainant).where(
            func.lower(Complainant.email) == email)).scalars())
        messages = list(session.execute(select(Message).where(or_(
            func.lower(Message.sender) == email,
            func.lower(Message.from_header).contains(email)))).scalars())
        return people, messages
    wanted = normalise_phone(who)
    if wanted is None:
        raise click.BadParameter(f"{who!r} is neither an email address nor a phone number",
                                 param_hint="EMAIL_OR_PHONE")
    people = [p for p in session.execute(select(Complainant).where(
        Complainant.phone.is_not(None))).scalars() if _matches_phone(p.phone, wanted)]
    return people, []


def _cases_of(session: Session, people: list[Complainant],
              messages: list[Message]) -> list[Case]:
    ids = {m.case_id for m in messages if m.case_id}
    if people:
        ids |= set(session.execute(select(Case.id).where(
            Case.complainant_id.in_([p.id for p in people]))).scalars())
    return list(session.execute(select(Case).where(Case.id.in_(ids)).order_by(Case.id)
                                ).scalars())


def subject_access(session: Session, who: str) -> dict[str, Any]:
    from intake.cases.cli import case_json, message_json

    people, messages = find_person(session, who)
    cases = _cases_of(session, people, messages)
    all_messages = {m.id: m for m in messages}
    for case in cases:
        all_messages.update({m.id: m for m in case.messages})
    refs = [c.reference for c in cases]
    trail = session.execute(select(AuditEntry).where(AuditEntry.case_reference.in_(refs))
                            .order_by(AuditEntry.id)).scalars()
    return {
        "complainants": [{"name": p.name, "email": p.email, "phone": p.phone,
                          "address": p.address, "role": p.role} for p in people],
        "cases": [case_json(session, c) | {"fields": c.fields} for c in cases],
        "messages": [message_json(session, m, True) for m in all_messages.values()],
        "letters": [{"case": c.reference, "kind": lt.kind, "status": lt.status,
                     "subject": lt.subject, "text": lt.body_text} for c in cases
                    for lt in c.letters],
        "audit": [{"at": a.at.isoformat(), "actor": a.actor, "case": a.case_reference,
                   "action": a.action} for a in trail],
    }


def erase_person(session: Session, who: str, reason: str, actor: str) -> dict[str, Any]:
    """Erase what may be erased; say what was kept and why."""
    from intake.cases.purge import purge_case

    people, messages = find_person(session, who)
    cases = _cases_of(session, people, messages)
    kept = [c.reference for c in cases if c.status != "closed"]
    purged = []
    for case in cases:
        if case.status == "closed":
            purge_case(session, case, actor)
            purged.append(case.reference)
    loose = [m for m in messages if m.case_id is None]
    for msg in loose:
        session.delete(msg)
    subject = hashlib.sha256(who.strip().lower().encode()).hexdigest()[:16]
    audit(session, actor, "person_erased", None, subject_hash=subject, reason=reason,
          purged=purged, kept=kept, kept_reason="open case: needed to handle the complaint"
          if kept else None, loose_messages=len(loose))
    return {"purged_cases": purged, "kept_cases": kept, "deleted_messages": len(loose),
            "kept_reason": "open cases are kept until closed (retention rule: open cases)"
            if kept else None}


@click.group("people")
def people_group() -> None:
    """Subject access and erasure."""


@people_group.command("export")
@click.argument("who", metavar="EMAIL_OR_PHONE")
def people_export(who: str) -> None:
    """Everything held about one person, as JSON."""
    from intake.runner import open_store

    with open_store().session() as session:
        data = subject_access(session, who)
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


@people_group.command("erase")
@click.argument("who", metavar="EMAIL_OR_PHONE")
@click.option("--reason", required=True, help="why (kept in the audit trail)")
@click.option("--by", "actor", default="operator", help="who asked for the erasure")
def people_erase(who: str, reason: str, actor: str) -> None:
    """Remove one person's data where no retention rule forbids."""
    from intake.runner import open_store

    with open_store().session() as session:
        result = erase_person(session, who, reason, actor)
    click.echo(json.dumps(result, indent=2))
