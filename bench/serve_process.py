"""``intake-bot serve`` as a child process, a capture relay, and database counts.

Shared by the load benchmarks and the fault tests: both need the real process (so SIGKILL
and restarts are real), a real SMTP server standing in for the relay, and a way to count
what the database holds without going through the process under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
BIN = [sys.executable, "-m", "intake"]
PG_ADMIN_URL = os.environ.get("INTAKE_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FINAL_EXCLUDES = ("pending", "failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class Relayed:
    mail_from: str
    rcpts: list[str]
    data: bytes


@dataclass
class CaptureRelay:
    """A real SMTP server on loopback that keeps what the bot's outbox hands it."""

    port: int = 0
    delay: float = 0.0  # seconds before answering each DATA (a slow relay)
    messages: list[Relayed] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self.messages.append(Relayed(envelope.mail_from, list(envelope.rcpt_tos),
                                         envelope.original_content))
        return "250 OK"

    def start(self) -> CaptureRelay:
        self.port = self.port or free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


def serve_env(db_url: str, smtp_port: int, relay_port: int, workdir: Path,
              **extra: str) -> dict[str, str]:
    """The environment for one serve process, isolated from the caller's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "SLACK_"))}
    env.update(INTAKE_DATABASE_URL=db_url, INTAKE_SMTP_PORT=str(smtp_port),
               INTAKE_RELAY_PORT=str(relay_port), INTAKE_MAILBOXES="enquiries@example.org",
               INTAKE_ATTACHMENTS_DIR=str(workdir / "attachments"),
               INTAKE_SPOOL_DIR=str(workdir / "spool"),
               INTAKE_WORKER_POLL_SECONDS="0.2", INTAKE_OUTBOX_BACKOFF_SECONDS="0.5",
               # Load runs send many letters to a few test domains' senders.
               INTAKE_MAX_REPLIES_PER_SENDER_PER_DAY="100000",
               PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


class ServeProcess:
    """One ``intake-bot serve`` child; its log goes to a file, never a pipe that fills."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "serve",
                 file_size_limit: int | None = None) -> None:
        self.env = env
        self.file_size_limit = file_size_limit  # RLIMIT_FSIZE: every file stops growing
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.smtp_port = int(env["INTAKE_SMTP_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServeProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()/kill()
        self.proc = subprocess.Popen(BIN + ["serve"], env=self.env, cwd=self.workdir,
                                     stdout=subprocess.DEVNULL, stderr=self._log,
                                     preexec_fn=self._limits if self.file_size_limit else None)
        if not wait_for(lambda: listening(self.smtp_port) or self.proc.poll() is not None,
                        timeout):
            self.kill()
            raise RuntimeError(f"serve did not listen in {timeout:.0f} s")
        if self.proc.poll() is not None:
            raise RuntimeError(f"serve exited {self.proc.returncode}: {self.log()[-500:]}")
        return self

    def _limits(self) -> None:
        """In the child: a full disk, as far as every file the process writes can tell."""
        import resource

        assert self.file_size_limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit,) * 2)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self._wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no clean-up runs in the child."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self._wait(10)

    def _wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


@contextmanager
def pg_database(prefix: str = "intake_b_") -> Iterator[str]:
    """A throwaway PostgreSQL database (no schema), dropped afterwards."""
    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def bench_store(db: str, prefix: str, **overrides: Any) -> Iterator[tuple[Any, Any, Path]]:
    """A fresh store at the latest schema with benchmark settings in force, in-process.

    Yields ``(store, settings, folder)``; the folder holds the SQLite file and any files.
    """
    import tempfile

    from intake.cases.db import Store, upgrade
    from intake.settings import override_settings

    with tempfile.TemporaryDirectory(prefix=prefix) as folder, contextlib.ExitStack() as stack:
        tmp = Path(folder)
        url = (stack.enter_context(pg_database()) if db == "postgres"
               else f"sqlite:///{tmp / 'intake.db'}")
        upgrade(url)
        store = Store(url)
        stack.callback(store.dispose)
        chosen = {"database_url": url, "mailboxes": ["enquiries@example.org"],
                  "attachments_dir": tmp / "attachments",
                  "max_replies_per_sender_per_day": 100000, **overrides}
        settings = stack.enter_context(override_settings(**chosen))
        yield store, settings, tmp


class Counter:
    """Read-only counts straight from the database, beside the process under test."""

    def __init__(self, db_url: str) -> None:
        from intake.cases.db import normalise_url

        self.engine = create_engine(normalise_url(db_url), poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text(sql), params).scalar()
        except Exception:  # noqa: BLE001 - a table not yet created counts as nothing
            return None

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def messages(self) -> int:
        return int(self.scalar("SELECT count(*) FROM messages") or 0)

    def unfinished(self) -> int:
        """Messages without a final disposition (pending, or failed and to be retried)."""
        return int(self.scalar("SELECT count(*) FROM messages WHERE disposition IN "
                               "('pending', 'failed')") or 0)

    def outbox_waiting(self) -> int:
        return int(self.scalar("SELECT count(*) FROM outbox WHERE status IN "
                               "('pending', 'sending', 'delivering')") or 0)

    def dispose(self) -> None:
        self.engine.dispose()
