"""Attachment scanning against a real clamd, started by the tests with a hand-made signature.

freshclam cannot fetch ClamAV's signatures here, so the clamd started below loads one
``.hdb`` line (md5:size:name) for the EICAR test file, and everything else is the real
INSTREAM protocol over a local socket and over TCP. Outside CI the clamd tests skip, with
the reason, when clamd is not installed; with CI=true they must run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from intake import pipeline
from intake.cases.db import Store
from intake.cases.models import FAILED, NEW_CASE, REPLY, AuditEntry, Case, Message
from intake.records import IntakeRecord
from intake.scan import ClamdClient, ClamdError, ScanResult, parse_reply
from intake.settings import Settings

# The EICAR anti-virus test file, assembled here so this source file is not itself flagged.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Eicar-Test-Signature"
STREAM_LIMIT = 1024 * 1024
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
INFECTED_NAME = "inspection-notes-from-mrs-hale.pdf"
BODY = (
    "Dear Ofsted,\n\nI wish to make a formal complaint about the inspection of Riverside "
    "Primary School (URN 123456) on 10 and 11 November 2026. The inspector did not speak to "
    "the special educational needs coordinator and the report published on 18 November "
    "2026 is wrong about our phonics results. I would like the judgement reviewed.\n\n"
    "Yours faithfully,\nJane Hale\n"
)


@dataclass
class Clamd:
    socket_path: Path
    port: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(folder: Path, port: int) -> Path:
    (folder / "db").mkdir()
    md5 = hashlib.md5(EICAR).hexdigest()  # noqa: S324 - the .hdb format is md5
    (folder / "db" / "eicar.hdb").write_text(f"{md5}:{len(EICAR)}:{SIGNATURE}\n")
    conf = folder / "clamd.conf"
    conf.write_text("\n".join([
        "Foreground yes",
        f"LocalSocket {folder / 'clamd.sock'}",
        "TCPAddr 127.0.0.1",
        f"TCPSocket {port}",
        f"DatabaseDirectory {folder / 'db'}",
        f"StreamMaxLength {STREAM_LIMIT}",
    ]) + "\n")
    return conf


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    binary = shutil.which("clamd") or next(
        (p for p in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if Path(p).exists()), None)
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("clamd (Debian package clamav-daemon) must be installed in CI")
        pytest.skip("clamd not installed (Debian package clamav-daemon): scan tests skipped")
    folder = tmp_path_factory.mktemp("clamd")
    port = _free_port()
    proc = subprocess.Popen([binary, f"--config-file={_config(folder, port)}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = ClamdClient(socket_path=folder / "clamd.sock", timeout=5)
    deadline = time.monotonic() + 60
    while not client.ping():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("clamd did not start")
        time.sleep(0.2)
    yield Clamd(folder / "clamd.sock", port)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def scanning(settings: Settings, clamd: Clamd, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"clamd_socket": clamd.socket_path,
                                       "quarantine_dir": tmp_path / "quarantine",
                                       "attachments_dir": tmp_path / "attachments"})


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _email(attachments: dict[str, bytes], *, in_reply_to: str | None = None,
           sender: str = "jane.hale@example.org") -> IntakeRecord:
    msg = EmailMessage()
    msg["From"] = f"Jane Hale <{sender}>"
    msg["To"] = "enquiries@localhost"
    msg["Subject"] = "Complaint about the inspection of Riverside Primary School"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["Date"] = "Mon, 23 Nov 2026 10:15:00 +0000"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(BODY)
    for name, data in attachments.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return IntakeRecord(channel="email", external_id=msg["Message-ID"].strip("<>"),
                        received_at=NOW, raw=msg.as_bytes(), sender=sender,
                        recipients=("enquiries@localhost",))


# --- the client, over both transports ------------------------------------------------


def test_clamd_finds_eicar_over_the_local_socket(clamd: Clamd) -> None:
    client = ClamdClient(socket_path=clamd.socket_path, timeout=10)
    result = client.scan_bytes(EICAR)
    assert result.status == "infected"
    assert result.signature is not None and result.signature.startswith(SIGNATURE)
    assert client.scan_bytes(b"An ordinary letter about an inspection.\n") == ScanResult("clean")


def test_clamd_finds_eicar_over_tcp_and_inside_a_zip(clamd: Clamd) -> None:
    client = ClamdClient(host="127.0.0.1", port=clamd.port, timeout=10)
    assert client.ping()
    assert client.scan_bytes(_zip("notes.txt", EICAR)).status == "infected"
    assert client.scan_bytes(_zip("notes.txt", b"harmless")).status == "clean"


def test_stream_over_clamds_limit_is_unscanned_not_clean(clamd: Clamd) -> None:
    client = ClamdClient(socket_path=clamd.socket_path, timeout=10)
    big = os.urandom(STREAM_LIMIT + 200_000)
    assert client.scan_bytes(big) == ScanResult("unscanned")
    assert client.scan_bytes(EICAR).status == "infected"  # clamd is still serving


def test_unreachable_clamd_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    client = ClamdClient(socket_path=tmp_path / "absent.sock", timeout=2)
    assert not client.ping()
    with pytest.raises(ClamdError, match="cannot connect"):
        client.scan_bytes(EICAR)
    with pytest.raises(ClamdError, match="cannot connect"):
        ClamdClient(host="127.0.0.1", port=_free_port(), timeout=2).scan_bytes(b"x")


def test_replies_are_read_strictly() -> None:
    assert parse_reply("stream: OK") == ScanResult("clean")
    assert parse_reply("stream: Win.Test.EICAR_HDB-1 FOUND") == ScanResult(
        "infected", "Win.Test.EICAR_HDB-1")
    assert parse_reply("INSTREAM size limit exceeded. ERROR") == ScanResult("unscanned")
    for reply in ("", "stream: lstat() failed. ERROR", "UNKNOWN COMMAND"):
        with pytest.raises(ClamdError):
            parse_reply(reply)


# --- through the pipeline ------------------------------------------------------------


def test_infected_attachment_is_quarantined_and_flags_the_case(
        store: Store, scanning: Settings) -> None:
    record = _email({INFECTED_NAME: EICAR, "timeline.txt": b"10 Nov: inspection day one\n"})
    message_id = pipeline.accept(store, record)
    outcome = pipeline.process_message(store, message_id, scanning)
    assert outcome is not None and outcome.disposition == NEW_CASE
    with store.session() as s:
        msg = s.get(Message, message_id)
        assert msg is not None
        rows = {a.filename: a for a in msg.attachments}
        infected, clean = rows[INFECTED_NAME], rows["timeline.txt"]
        assert infected.scan_status == "infected" and infected.data is None
        assert infected.path is not None
        quarantined = Path(infected.path)
        assert quarantined.is_relative_to(scanning.quarantine_dir)
        assert quarantined.read_bytes() == EICAR  # kept for a person, not lost
        assert clean.scan_status == "clean" and clean.data == b"10 Nov: inspection day one\n"
        case = s.execute(select(Case)).scalar_one()
        assert case.flags == ["infected_attachment"]
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
        assert "infected_attachment" in actions
        assert {lt.kind for lt in case.letters} == {"acknowledgement"}
        for letter in case.letters:
            for body in (letter.body_text, letter.body_html, letter.subject):
                assert INFECTED_NAME not in body and "inspection-notes" not in body
                assert "EICAR" not in body


def test_clean_attachments_leave_the_case_unflagged(
        sqlite_store: Store, scanning: Settings) -> None:
    message_id = pipeline.accept(sqlite_store, _email({"photo.jpg": b"\xff\xd8\xff\xe0jpeg"}))
    assert pipeline.process_message(sqlite_store, message_id, scanning) is not None
    with sqlite_store.session() as s:
        [row] = s.get(Message, message_id).attachments  # type: ignore[union-attr]
        assert row.scan_status == "clean" and row.data == b"\xff\xd8\xff\xe0jpeg"
        assert s.execute(select(Case)).scalar_one().flags == []
    assert not scanning.quarantine_dir.exists()


def test_oversized_attachment_is_quarantined_as_unscanned(
        sqlite_store: Store, scanning: Settings) -> None:
    big = os.urandom(STREAM_LIMIT + 10_000)
    message_id = pipeline.accept(sqlite_store, _email({"scan.tiff": big}))
    pipeline.process_message(sqlite_store, message_id, scanning)
    with sqlite_store.session() as s:
        [row] = s.get(Message, message_id).attachments  # type: ignore[union-attr]
        assert row.scan_status == "unscanned" and row.data is None
        assert Path(row.path or "").read_bytes() == big
        assert s.execute(select(Case)).scalar_one().flags == ["unscanned_attachment"]


def test_reply_with_infected_attachment_flags_the_existing_case(
        sqlite_store: Store, scanning: Settings) -> None:
    first = pipeline.accept(sqlite_store, _email({}))
    pipeline.process_message(sqlite_store, first, scanning)
    with sqlite_store.session() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.flags == []
        letter_id = next(lt.message_id for lt in case.letters if lt.message_id)
    reply = _email({"more-evidence.docx": _zip("word/document.xml", EICAR)},
                   in_reply_to=f"<{letter_id.strip('<>')}>")
    second = pipeline.accept(sqlite_store, reply)
    outcome = pipeline.process_message(sqlite_store, second, scanning)
    assert outcome is not None and outcome.disposition == REPLY
    with sqlite_store.session() as s:
        assert s.execute(select(Case)).scalar_one().flags == ["infected_attachment"]


def test_clamd_down_is_retried_and_logged_without_content(
        sqlite_store: Store, settings: Settings, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    down = settings.model_copy(update={"clamd_socket": tmp_path / "no-clamd.sock"})
    message_id = pipeline.accept(sqlite_store, _email({INFECTED_NAME: EICAR}))
    with caplog.at_level(logging.INFO):
        outcome = pipeline.process_message(sqlite_store, message_id, down)
    assert outcome is not None and outcome.disposition == FAILED
    with sqlite_store.session() as s:
        msg = s.get(Message, message_id)
        assert msg is not None and msg.next_attempt_at is not None
        assert msg.reason == "attempt 1 failed: TransientError"
        assert msg.attachments == [] and s.execute(select(Case)).first() is None
    logged = caplog.text
    assert f"message {message_id}: attachment scan failed, will retry" in logged
    assert INFECTED_NAME not in logged and "Riverside" not in logged


def test_without_clamd_settings_nothing_is_scanned(
        sqlite_store: Store, settings: Settings) -> None:
    assert settings.clamd_socket is None and settings.clamd_host is None
    message_id = pipeline.accept(sqlite_store, _email({"a.txt": b"hello"}))
    pipeline.process_message(sqlite_store, message_id, settings)
    with sqlite_store.session() as s:
        [row] = s.get(Message, message_id).attachments  # type: ignore[union-attr]
        assert row.scan_status is None and row.data == b"hello"
