"""The database is unavailable or locked: SMTP answers a temporary ``451`` (the sender
retries) or waits, and never answers ``250`` for a message it did not store."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.corpus import make_messages
from bench.serve_process import PG_ADMIN_URL, CaptureRelay, Counter, ServeProcess, wait_for
from intake.cases.db import Store
from intake.email.server import SmtpIntake
from intake.settings import override_settings
from tests.faults.conftest import MAILBOX, Serves, deliver, log_entries

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def _send(port: int, raw: bytes) -> tuple[int, str]:
    """One real SMTP transaction; the final reply code and text."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
    await smtp.connect()
    try:
        await smtp.sendmail("sender@school.example", [MAILBOX], raw)
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        smtp.close()


def _allow_connections(database: str, allowed: bool) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS '
                          f'{"true" if allowed else "false"}'))
        if not allowed:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": database})
    admin.dispose()


@pytest.mark.postgres
def test_postgres_down_answers_451_then_stores_the_retry(
        pg_url: str, relay: CaptureRelay, serves: Serves) -> None:
    serve: ServeProcess = serves(pg_url, relay.port)
    first, second = make_messages(2, seed=3, tag="pg-down")
    assert asyncio.run(_send(serve.smtp_port, first.raw))[0] == 250
    database = pg_url.rsplit("/", 1)[1]
    _allow_connections(database, False)  # every connection dropped, no new ones
    try:
        code, reply = asyncio.run(_send(serve.smtp_port, second.raw))
    finally:
        _allow_connections(database, True)
    assert code == 451 and "4.3.0" in reply
    assert "Error" not in reply and "psycopg" not in reply  # no exception text to clients
    assert asyncio.run(_send(serve.smtp_port, second.raw))[0] == 250  # the sender's retry
    db = Counter(pg_url)
    try:
        assert wait_for(lambda: db.messages() == 2 and db.unfinished() == 0, 45)
        rows = db.rows("SELECT external_id, disposition FROM messages ORDER BY id")
    finally:
        db.dispose()
    assert rows == [(first.message_id, "new_case"), (second.message_id, "new_case")]
    assert serve.proc is not None and serve.proc.poll() is None  # still serving
    assert any("could not store email message" in e["msg"] for e in log_entries(serve))


def test_sqlite_locked_waits_and_then_stores(tmp_path: Path, relay: CaptureRelay,
                                             serves: Serves) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    serve: ServeProcess = serves(url, relay.port)
    [sample] = make_messages(1, seed=4, tag="locked")
    lock = sqlite3.connect(tmp_path / "intake.db", isolation_level=None,
                           check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    released = threading.Timer(2.0, lambda: lock.execute("COMMIT"))
    begin = time.monotonic()
    released.start()
    try:
        sent = deliver(serve.smtp_port, [sample], clients=1)
    finally:
        released.join()
        lock.close()
    assert sent.accepted == [sample.message_id]  # answered only after the lock went
    assert time.monotonic() - begin >= 1.9
    db = Counter(url)
    try:
        assert wait_for(lambda: db.messages() == 1 and db.unfinished() == 0, 30)
    finally:
        db.dispose()


def test_sqlite_locked_past_the_busy_timeout_answers_451(
        tmp_path: Path, relay: CaptureRelay, serves: Serves) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    serve: ServeProcess = serves(url, relay.port)
    [sample] = make_messages(1, seed=9, tag="locked-long")
    lock = sqlite3.connect(tmp_path / "intake.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # held past the store's 30-second busy timeout
    try:
        sent = deliver(serve.smtp_port, [sample], clients=1)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert sent.accepted == [] and sent.codes == [451]  # the sender keeps it and retries
    assert deliver(serve.smtp_port, [sample], clients=1).accepted == [sample.message_id]
    db = Counter(url)
    try:
        assert db.messages() == 1  # stored once: the refused attempt left no row
    finally:
        db.dispose()


@pytest.fixture
def unavailable_intake(tmp_path: Path) -> Iterator[SmtpIntake]:
    """The SMTP edge over a SQLite database that cannot be opened (its folder is a file)."""
    url = f"sqlite:///{tmp_path / 'gone' / 'intake.db'}"
    with override_settings(database_url=url, smtp_port=0, mailboxes=[MAILBOX]) as settings:
        store = Store(url)  # creates the folder; nothing is opened yet
        (tmp_path / "gone").rmdir()
        (tmp_path / "gone").write_text("a file where the database folder should be")
        intake = SmtpIntake(store, settings, on_accept=lambda _id: None)
        intake.start()
        yield intake
        intake.stop()
        store.dispose()


def test_database_that_cannot_open_answers_451_never_250(
        unavailable_intake: SmtpIntake) -> None:
    samples = make_messages(3, seed=5, tag="no-db")
    sent = deliver(unavailable_intake.port, samples, clients=2)
    assert sent.accepted == []
    assert sent.codes == [451, 451, 451]
