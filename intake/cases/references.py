"""Human-readable case references such as ``CMP-2026-00042``.

Numbers come from one counter row per prefix and year, bumped with a single atomic
``UPDATE … RETURNING``: the row lock serialises concurrent writers on PostgreSQL and SQLite
alike, so no reference is issued twice. A transaction that rolls back after taking a number
leaves a gap, which is allowed.
"""

from __future__ import annotations

import re

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.cases.models import ReferenceCounter

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
