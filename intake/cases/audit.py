"""The append-only audit trail: who did what to which case, and when.

Entries carry references and label values, never complaint text or addresses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.cases.models import AuditEntry

SYSTEM = "system"


def audit(session: Session, actor: str, action: str, case_reference: str | None = None,
          **detail: Any) -> AuditEntry:
    """Record one change; the caller's transaction makes it atomic with the change."""
    entry = AuditEntry(actor=actor, action=action, case_reference=case_reference,
                       detail=detail)
    session.add(entry)
    return entry
