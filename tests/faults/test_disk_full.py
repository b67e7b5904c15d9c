"""The attachments disk is full: the message is kept (its raw bytes are already stored),
marked ``failed`` for a retry with a log line naming the cause, and processed once space
is back. Nothing is quarantined for a fault that is ours, and nothing is lost."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from bench.corpus import make_messages
from bench.serve_process import Counter, ServeProcess, wait_for
from intake.cases.db import Store, upgrade
from intake.cases.models import Attachment, Message
from intake.pipeline import accept, process_message, process_pending
from intake.records import IntakeRecord
from intake.settings import Settings, override_settings
from tests.faults.conftest import Serves, deliver, log_entries

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"),
                                reason="needs /dev/full to stand in for a full disk")

EVIDENCE = b"%PDF-1.7\n" + bytes(range(256)) * 400


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jo Head <head@school.example>"
    msg["To"] = "enquiries@example.org"
    msg["Subject"] = "Complaint about our inspection, evidence attached"
    msg["Message-ID"] = "<disk-full-1@school.example>"
    msg.set_content("I am the headteacher of Hillside Primary (URN 123456). The lead "
                    "inspector ignored our evidence; the attached file shows it.\n")
    msg.add_attachment(EVIDENCE, maintype="application", subtype="pdf", filename="e.pdf")
    return msg.as_bytes()


@pytest.fixture
def disk_settings(tmp_path: Path, settings: Settings) -> Iterator[Settings]:
    with override_settings(database_url=settings.database_url, attachments_in_db=False,
                           attachments_dir=tmp_path / "attachments",
                           mailboxes=["enquiries@example.org"]) as s:
        yield s


def _fill_disk(folder: Path) -> Path:
    """Make the attachment's file land on /dev/full, which fails writes with ENOSPC."""
    digest = hashlib.sha256(EVIDENCE).hexdigest()
    target = folder / digest[:2] / f"{digest}.tmp"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to("/dev/full")
    return target


def test_full_disk_fails_the_message_for_retry_then_it_goes_through(
        sqlite_store: Store, disk_settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    full = _fill_disk(disk_settings.attachments_dir)
    record = IntakeRecord(channel="email", external_id="disk-full-1@school.example",
                          received_at=datetime.now(UTC), raw=_mail(),
                          sender="head@school.example", recipients=("enquiries@example.org",))
    message_id = accept(sqlite_store, record)  # stored: the SMTP edge would answer 250
    with caplog.at_level(logging.ERROR, logger="intake.pipeline"):
        outcome = process_message(sqlite_store, message_id, disk_settings)
    assert outcome is not None and outcome.disposition == "failed"
    [line] = [r for r in caplog.records if r.name == "intake.pipeline"]
    assert str(message_id) in line.getMessage() and "OSError" in line.getMessage()
    assert line.exc_info is not None and line.exc_info[1].errno == errno.ENOSPC
    with sqlite_store.session() as session:
        msg = session.get(Message, message_id)
        assert msg is not None and msg.raw == record.raw  # nothing lost
        assert msg.reason == "attempt 1 failed: OSError (No space left on device)"
        assert msg.case_id is None
        assert msg.next_attempt_at is not None
        assert session.query(Attachment).count() == 0  # the failed transaction left nothing
        msg.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)  # the backoff passes

    full.unlink()  # space is back
    [retried] = process_pending(sqlite_store, settings=disk_settings)
    assert retried.disposition == "new_case" and retried.case_reference
    with sqlite_store.session() as session:
        [row] = session.query(Attachment).all()
        assert row.path and Path(row.path).read_bytes() == EVIDENCE


def _big_mail(n: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Jo Head <head{n}@school.example>"
    msg["To"] = "enquiries@example.org"
    msg["Subject"] = "Complaint about our inspection, evidence attached"
    msg["Message-ID"] = f"<disk-full-big-{n}@school.example>"
    msg.set_content("The inspector ignored our evidence; the attached file shows it.\n")
    msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf",
                       filename="e.pdf")
    return msg.as_bytes()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_full_disk_under_serve_spools_then_answers_451_and_loses_no_250(
        tmp_path: Path, serves: Serves) -> None:
    """Every file serve writes is capped (RLIMIT_FSIZE), as on a full disk: the database
    stops taking mail, the spool takes what fits (250), a message too big for either gets
    451 with a clear log line, and after space is back every 250 is stored exactly once."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    room = max(p.stat().st_size for p in tmp_path.glob("intake.db*")) + 200_000
    full: ServeProcess = serves(url, 1, name="full", file_size_limit=room,
                                INTAKE_SMTP_SPOOL="true")
    samples = [s for s in make_messages(40, seed=11, tag="full") if s.kind == "attachment"]
    sent = deliver(full.smtp_port, samples[:5], clients=1)
    too_big = _big_mail(1, room + 100_000)
    refused = deliver(full.smtp_port, [type(samples[0])("too-big", "attachment", too_big)],
                      clients=1)
    spooled = sorted((tmp_path / "spool" / "new").glob("*.msg"))
    full.kill()
    assert len(sent.accepted) == 5 and not sent.codes  # database or spool took each one
    assert spooled, "the database never filled up: the test did not test anything"
    assert refused.accepted == [] and refused.codes == [451]
    lines = " | ".join(e["msg"] for e in log_entries(full))
    assert "database unavailable: message spooled" in lines
    assert "database and spool both failed (OSError)" in lines

    again: ServeProcess = serves(url, 1, name="again", INTAKE_SMTP_SPOOL="true")
    db = Counter(url)
    try:
        assert wait_for(lambda: db.messages() >= 5 and not list(
            (tmp_path / "spool" / "new").glob("*.msg")), 45), again.log()[-1500:]
        stored = [r[0] for r in db.rows("SELECT external_id FROM messages")]
    finally:
        db.dispose()
    assert sorted(stored) == sorted(sent.accepted)  # each 250 exactly once, nothing else
    assert again.terminate() == 0
