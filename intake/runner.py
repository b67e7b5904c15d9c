"""Opening the configured case store, and running one record through the pipeline.

Commands other than ``serve`` (``phone``, ``cases``, ``messages``) use :func:`open_store`,
which refuses a database behind the latest migration with a message saying what to do.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from intake.cases.db import SchemaBehind, Store, ensure_schema
from intake.records import IntakeRecord
from intake.settings import ConfigError, Settings, get_settings


def open_store(settings: Settings | None = None, *, create: bool = True) -> Store:
    """The store named by the settings, checked to be at the latest schema."""
    try:
        settings = settings or get_settings()
    except ConfigError as exc:
        click.echo(f"intake-bot: configuration error: {exc}", err=True)
        sys.exit(2)
    store = Store(settings.database_url)
    try:
        ensure_schema(store.engine, create_if_empty=create)
    except SchemaBehind as exc:
        click.echo(f"intake-bot: {exc}", err=True)
        sys.exit(1)
    return store


def run_once(record: IntakeRecord) -> dict[str, Any]:
    """Accept and process one record now; a summary for the terminal."""
    from intake.cases.models import Case, Message
    from intake.pipeline import accept, process_message

    settings = get_settings()
    store = open_store(settings)
    message_id = accept(store, record)
    outcome = process_message(store, message_id, settings)
    with store.session() as session:
        msg = session.get(Message, message_id)
        assert msg is not None
        summary: dict[str, Any] = {"message": message_id, "disposition": msg.disposition,
                                   "reason": msg.reason}
        case = session.get(Case, msg.case_id) if msg.case_id else None
        if case is not None:
            summary.update(reference=case.reference, intent=case.intent,
                           aspects=case.aspects, regime=case.regime,
                           safeguarding=case.safeguarding, deadlines=case.deadline_summary,
                           letters=[{"kind": lt.kind, "status": lt.status,
                                     "delivery": lt.delivery} for lt in case.letters])
    assert outcome is None or outcome.message_id == message_id
    store.dispose()
    return summary
