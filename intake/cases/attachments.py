"""Attachments are kept with name, type, size and hash, in the database or on disk."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from intake.cases.models import Attachment, Message
from intake.records import AttachmentInfo
from intake.scan import QUARANTINE_STATUSES, scan_attachment
from intake.settings import Settings


def _write_file(folder: Path, sha256: str, data: bytes) -> Path:
    """Content-addressed, fsynced, written once (a retry finds it already there)."""
    path = folder / sha256[:2] / sha256
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def store_attachments(session: Session, message: Message, items: list[AttachmentInfo],
                      settings: Settings) -> None:
    """Replace the message's attachment rows (idempotent when a step is retried)."""
    message.attachments.clear()
    for item in items:
        row = Attachment(filename=item.filename, content_type=item.content_type,
                         size=item.size, sha256=item.sha256)
        row.scan_status = scan_attachment(item.data, item.sha256, message.id, settings)
        if row.scan_status in QUARANTINE_STATUSES:  # never in the normal store
            row.path = str(_write_file(settings.quarantine_dir, item.sha256, item.data))
        elif settings.attachments_in_db:
            row.data = item.data
        else:
            row.path = str(_write_file(settings.attachments_dir, item.sha256, item.data))
        message.attachments.append(row)
    # No flush of its own: the rows go in with the write transaction's other rows (the
    # pipeline flushes a batch's rows together, before its commit).
