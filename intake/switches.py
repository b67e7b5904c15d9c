"""Operator switches read by every running process, and ``intake-bot letters``.

``letters pause`` holds every automatic letter (intake, cases and Slack posts go on);
``letters resume`` lifts the pause and releases the letters it held.
"""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.models import Letter, Switch
from intake.settings import Settings, get_settings

LETTERS_PAUSED = "letters_paused"
PAUSED_REASON = "automatic letters are paused"


def is_on(session: Session, name: str) -> bool:
    row = session.get(Switch, name)
    return bool(row and row.enabled)


def letters_paused(session: Session, settings: Settings) -> bool:
    """Paused by configuration, or by an operator at run time."""
    return settings.letters_paused or is_on(session, LETTERS_PAUSED)


def set_switch(session: Session, name: str, enabled: bool, actor: str,
               reason: str | None = None) -> None:
    row = session.get(Switch, name)
    if row is None:
        row = Switch(name=name, changed_by=actor)
        session.add(row)
    row.enabled, row.changed_by, row.reason = enabled, actor, reason
    audit(session, actor, "switch_on" if enabled else "switch_off", None, switch=name,
          reason=reason)


def release_paused_letters(session: Session, actor: str, settings: Settings) -> int:
    """Send the letters that were held only because of the pause."""
    from intake.letters_flow import release_letter

    held = session.execute(select(Letter).where(Letter.status == "held",
                                                Letter.hold_reason == PAUSED_REASON)
                           ).scalars().all()
    for letter in held:
        release_letter(session, letter.case, letter, actor, settings)
    return len(held)


@click.group("letters")
def letters_group() -> None:
    """Pause or resume automatic letters."""


@letters_group.command("pause")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
@click.option("--by", "actor", default="operator", help="who is pausing")
def pause(reason: str | None, actor: str) -> None:
    """Hold every automatic letter from now on; intake goes on."""
    from intake.runner import open_store

    with open_store().session() as session:
        set_switch(session, LETTERS_PAUSED, True, actor, reason)
    click.echo("automatic letters paused: new letters are held")


@letters_group.command("resume")
@click.option("--by", "actor", default="operator", help="who is resuming")
def resume(actor: str) -> None:
    """Lift the pause and release the letters it held."""
    from intake.runner import open_store

    with open_store().session() as session:
        set_switch(session, LETTERS_PAUSED, False, actor)
        n = release_paused_letters(session, actor, get_settings())
    click.echo(f"automatic letters resumed; {n} held letter(s) released")


@letters_group.command("status")
def status() -> None:
    """Say whether automatic letters are paused."""
    from intake.runner import open_store

    with open_store().session() as session:
        paused = letters_paused(session, get_settings())
    click.echo("paused" if paused else "running")
