"""``intake-bot db``, ``cases`` and ``messages``: looking into the case store.

``messages export`` answers "what happened to my email?": one row per accepted inbound
message with its disposition and reason. ``cases export`` is the JSON Lines contract in
PRODUCT.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from intake.cases.models import Case, CaseLink, Message
from intake.runner import open_store
from intake.settings import ConfigError, get_settings


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def _links(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CaseLink).where(or_(CaseLink.case_id == case.id,
                                   CaseLink.other_case_id == case.id))
        .order_by(CaseLink.id)
    ).scalars()
    out = []
    for link in rows:
        other_id = link.other_case_id if link.case_id == case.id else link.case_id
        other = session.get(Case, other_id)
        out.append({"reference": other.reference if other else None, "kind": link.kind,
                    "reason": link.reason})
    return out


LONDON = ZoneInfo("Europe/London")


def received_day(case: Case) -> str:
    """The received date as RULES.md section 3 defines it: the local date in London."""
    stamp = case.received_at
    if stamp.tzinfo is None:  # stored as UTC by a backend that drops the offset
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(LONDON).date().isoformat()


DEADLINE_KEYS = ("acknowledge_by", "respond_by", "out_of_time", "time_limit_ends", "rule")


def case_json(session: Session, case: Case) -> dict[str, Any]:
    """One case as exported (PRODUCT.md, cases export)."""
    summary = case.deadline_summary or {}
    return {
        "reference": case.reference, "channel": case.channel, "status": case.status,
        "received_at": _iso(case.received_at), "intent": case.intent,
        "aspects": sorted(case.aspects), "inspectorates": sorted(case.inspectorates),
        "regime": case.regime, "safeguarding": case.safeguarding, "urn": case.urn,
        "provider": case.provider, "report_published": _iso(case.report_published),
        "draft_received": _iso(case.draft_received), "needs_review": case.needs_review,
        "assignee": case.assignee, "outcome": case.outcome, "flags": case.flags,
        "rule_version": case.rule_version,
        "deadlines": {k: summary.get(k) for k in DEADLINE_KEYS},
        "messages": [{"id": m.id, "channel": m.channel, "external_id": m.external_id,
                      "disposition": m.disposition} for m in case.messages],
        "letters": [{"kind": lt.kind, "status": lt.status, "delivery": lt.delivery,
                     "template_version": lt.template_version} for lt in case.letters],
        "links": _links(session, case),
    }


def message_json(session: Session, msg: Message, with_content: bool) -> dict[str, Any]:
    """One inbound message as exported (PRODUCT.md, messages export)."""
    case_id = msg.case_id
    if case_id is None and msg.duplicate_of_id is not None:
        original = session.get(Message, msg.duplicate_of_id)
        case_id = original.case_id if original else None
    case = session.get(Case, case_id) if case_id else None
    row: dict[str, Any] = {
        "id": msg.id, "channel": msg.channel, "external_id": msg.external_id,
        "received_at": _iso(msg.received_at), "sender": msg.sender,
        "from_header": msg.from_header, "case": case.reference if case else None,
        "disposition": msg.disposition, "reason": msg.reason,
    }
    if with_content:
        row["subject"] = msg.subject
        row["text"] = msg.text
        row["attachments"] = [{"name": a.filename, "type": a.content_type, "size": a.size,
                               "scan_status": a.scan_status} for a in msg.attachments]
    return row


def _cases(session: Session) -> Iterator[Case]:
    query = select(Case).order_by(Case.id).options(
        selectinload(Case.messages), selectinload(Case.letters))
    yield from session.execute(query).scalars()


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from intake.cases.db import upgrade

    try:
        url = get_settings().database_url
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    upgrade(url)
    click.echo("database is at the latest schema")


@click.group("cases")
def cases_group() -> None:
    """List, show and export cases."""


@cases_group.command("list")
@click.option("--status", default=None, help="only cases with this status")
def cases_list(status: str | None) -> None:
    """One line per case: reference, received, intent, regime, status, respond by."""
    store = open_store()
    with store.session() as session:
        for case in _cases(session):
            if status and case.status != status:
                continue
            due = (case.deadline_summary or {}).get("respond_by") or "-"
            click.echo(f"{case.reference}\t{received_day(case)}\t{case.intent}\t"
                       f"{case.regime}\t{case.status}\t{due}")


@cases_group.command("show")
@click.argument("reference")
def cases_show(reference: str) -> None:
    """A case as JSON (labels, deadlines, messages, letters, links)."""
    store = open_store()
    with store.session() as session:
        case = session.execute(select(Case).where(Case.reference == reference.upper())
                               ).scalar_one_or_none()
        if case is None:
            click.echo(f"intake-bot: no case {reference}", err=True)
            sys.exit(1)
        data = case_json(session, case)
        data["labels"] = [{"name": lb.name, "value": lb.value, "confidence": lb.confidence,
                           "source": lb.source, "rule": lb.rule,
                           "current": lb.superseded_at is None} for lb in case.labels]
        data["deadline_rows"] = [{"kind": d.kind, "due": _iso(d.due_at or d.due_date),
                                  "rule": d.rule, "source": d.source}
                                 for d in case.deadlines if d.superseded_at is None]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@cases_group.command("letter")
@click.argument("reference")
@click.option("--kind", default=None, help="letter kind (default: the main letter)")
@click.option("--format", "fmt", type=click.Choice(["text", "html"]), default="text")
def cases_letter(reference: str, kind: str | None, fmt: str) -> None:
    """Print a case's letter (HTML for print, for letters that go by post)."""
    store = open_store()
    with store.session() as session:
        case = session.execute(select(Case).where(Case.reference == reference.upper())
                               ).scalar_one_or_none()
        letters = [lt for lt in (case.letters if case else []) if kind in (None, lt.kind)]
        if not letters:
            click.echo(f"intake-bot: no letter for {reference}", err=True)
            sys.exit(1)
        letter = next((lt for lt in letters if lt.kind != "receipt"), letters[0])
        click.echo(letter.body_html if fmt == "html" else letter.body_text)


@cases_group.command("export")
def cases_export() -> None:
    """JSON Lines, one case each."""
    store = open_store()
    with store.session() as session:
        for case in _cases(session):
            click.echo(json.dumps(case_json(session, case), ensure_ascii=False))


@click.group("messages")
def messages_group() -> None:
    """Account for every inbound message."""


@messages_group.command("export")
@click.option("--with-content", is_flag=True, help="add subject, text and attachments")
def messages_export(with_content: bool) -> None:
    """JSON Lines, one row per accepted inbound message, with disposition and reason."""
    store = open_store()
    with store.session() as session:
        query = select(Message).order_by(Message.id)
        if with_content:
            query = query.options(selectinload(Message.attachments))
        for msg in session.execute(query).scalars():
            click.echo(json.dumps(message_json(session, msg, with_content),
                                  ensure_ascii=False))
