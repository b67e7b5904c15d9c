"""Human-readable case references such as ``CMP-2026-00042``.

Numbers come from one counter row per prefix and year, bumped with a single atomic
``UPDATE … RETURNING``: the row lock serialises concurrent writers on PostgreSQL and SQLite
alike, so no reference is issued twice. A transaction that rolls back after taking a number
leaves a gap, which is allowed. The pipeline takes them through :func:`new_reference`,
which keeps SQLite's numbers gap-free within a batch.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import insert, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.cases.models import ReferenceCounter

if TYPE_CHECKING:
    from intake.steps.context import Batch

PREFIX = "CMP"
REFERENCE_RE = re.compile(r"\b([A-Z]{2,5}-\d{4}-\d{5,})\b")


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:05d}"


def allocate_reference(session: Session, year: int, prefix: str = PREFIX) -> str:
    """Take the next number for this prefix and year inside the caller's transaction."""
    return format_reference(prefix, year, allocate_number(session, year, prefix))


def allocate_number(session: Session, year: int, prefix: str = PREFIX) -> int:
    """The next number for this prefix and year, taken inside the caller's transaction."""
    return allocate_numbers(session, year, 1, prefix)[0]


def allocate_numbers(session: Session, year: int, count: int,
                     prefix: str = PREFIX) -> list[int]:
    """The next ``count`` numbers for this prefix and year, in one UPDATE inside the
    caller's transaction."""
    for _ in range(3):
        bumped = session.execute(
            update(ReferenceCounter)
            .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
            .values(last=ReferenceCounter.last + count)
            .returning(ReferenceCounter.last)
        ).scalar_one_or_none()
        if bumped is not None:
            return list(range(int(bumped) - count + 1, int(bumped) + 1))
        try:
            with session.begin_nested():
                session.execute(insert(ReferenceCounter).values(prefix=prefix, year=year,
                                                                last=0))
        except IntegrityError:
            continue  # another writer created the row first; bump it
    raise RuntimeError("could not allocate a case reference")


def find_references(text: str | None) -> list[str]:
    """Case references named in a subject line or text, in order, without repeats."""
    seen: list[str] = []
    for ref in REFERENCE_RE.findall(text or ""):
        if ref not in seen:
            seen.append(ref)
    return seen


def new_reference(session: Session, year: int, batch: Batch | None = None) -> str:
    """A new case's reference, as the pipeline takes them (``batch``: the write
    transaction's shared state, ``intake.steps.context.Batch``).

    On PostgreSQL the counter is bumped in a short transaction of its own, so a batch does
    not keep the counter row locked until it commits (other workers would queue behind
    it), and once per batch: the first case takes numbers for every message left in the
    batch. A rollback, or a message that opens no case, then leaves a gap, which is
    allowed; no number is issued twice. That commit need not wait for the disk: the case
    that uses the number commits later and durably, which makes the earlier bump durable
    too.

    On SQLite the first case of a write transaction bumps the counter (taking its row);
    the next ones count on in ``batch``, which writes the counter once before the commit
    (gap-free: the numbers and the counter commit or roll back together)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return format_reference(PREFIX, year, _taken_ahead(session, year, batch))
    if batch is None:
        return allocate_reference(session, year)
    counter = batch.counters.get((PREFIX, year))
    if counter is None:
        with session.no_autoflush:  # the message row's UPDATE waits for the case's
            number = allocate_number(session, year)
        batch.counters[(PREFIX, year)] = [number, number]
    else:
        counter[1] += 1
        number = counter[1]
    return format_reference(PREFIX, year, number)


def _taken_ahead(session: Session, year: int, batch: Batch | None) -> int:
    """PostgreSQL: the next number taken ahead for the batch, taking more when none is
    left (in a short transaction of its own)."""
    numbers = batch.numbers.setdefault((PREFIX, year), []) if batch else []
    if not numbers:
        with Session(session.get_bind()) as own, own.begin():
            own.execute(text("SET LOCAL synchronous_commit TO OFF"))
            numbers += allocate_numbers(own, year, max(1, batch.left if batch else 1))
    return numbers.pop(0)
