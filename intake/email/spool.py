"""The fallback store: an fsynced spool file when the database cannot take a message.

PRODUCT.md (SMTP intake) allows ``250`` once the raw message is committed to the database
*or* written to an fsynced spool file that a restart re-processes. Like Mailman's
switchboard, a file is written under ``tmp/``, fsynced, renamed into ``new/`` and the
folder fsynced, so a file in ``new/`` is always complete. :func:`replay` moves spooled
messages into the database as soon as it answers again, oldest first.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from intake.cases.db import Store
from intake.records import IntakeRecord

log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(spool_dir: Path, record: IntakeRecord) -> Path:
    """Write one record durably; raise OSError when the spool cannot take it either."""
    tmp, new = spool_dir / "tmp", spool_dir / "new"
    tmp.mkdir(parents=True, exist_ok=True)
    new.mkdir(parents=True, exist_ok=True)
    meta = {"channel": record.channel, "external_id": record.external_id,
            "received_at": record.received_at.isoformat(), "sender": record.sender,
            "recipients": list(record.recipients)}
    name = f"{record.received_at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex}.msg"
    with open(tmp / name, "wb") as out:
        out.write(json.dumps(meta).encode() + b"\n" + record.raw)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp / name, new / name)
    _fsync_dir(new)
    return new / name


def read(path: Path) -> IntakeRecord:
    meta_line, raw = path.read_bytes().split(b"\n", 1)
    meta = json.loads(meta_line)
    return IntakeRecord(channel=meta["channel"], external_id=meta["external_id"],
                        received_at=datetime.fromisoformat(meta["received_at"]).astimezone(UTC),
                        raw=raw, sender=meta["sender"], recipients=tuple(meta["recipients"]))


def pending(spool_dir: Path) -> list[Path]:
    new = spool_dir / "new"
    return sorted(new.glob("*.msg")) if new.is_dir() else []


def replay(store: Store, spool_dir: Path, on_accept: Callable[[int], None]) -> int:
    """Store spooled messages in the database; stop at the first failure. Returns count."""
    from intake.pipeline import StoreUnavailable, accept

    moved = 0
    for path in pending(spool_dir):
        try:
            record = read(path)
        except (ValueError, KeyError, TypeError) as exc:
            _set_aside(path, spool_dir, type(exc).__name__)
            continue
        try:
            message_id = accept(store, record)
        except StoreUnavailable:
            break
        path.unlink()
        _fsync_dir(path.parent)
        moved += 1
        log.info("spooled message stored as message %s", message_id)
        on_accept(message_id)
    return moved


def _set_aside(path: Path, spool_dir: Path, why: str) -> None:
    """A spool file we cannot read is kept for a person under ``bad/``, never deleted."""
    bad = spool_dir / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    os.replace(path, bad / path.name)
    log.error("spool file %s unreadable (%s); moved to bad/", path.name, why)
