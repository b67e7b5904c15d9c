"""SQLite's pipeline writer lock: one writer at a time across the service's processes,
handed over the moment the last one commits.

SQLite's own busy handler polls in growing sleeps (up to 100 ms), so a store waiting
behind a worker's transaction answered its ``250`` late. The SMTP edge's ``accept`` and
the pipeline workers' batch transactions take this lock instead; other writers (the
outbox, reminders) still meet the busy handler. PostgreSQL locks rows instead.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from intake.cases.db import Store

WRITER_TIMEOUT = 30.0  # as SQLite's busy timeout (intake/cases/db.py)
_WRITERS: weakref.WeakKeyDictionary[Store, _WriterLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


@dataclass
class _WriterLock:
    """The pipeline's SQLite writer lock: a thread lock, plus an exclusive ``flock`` on a
    file beside the database that every process of this service takes (the kernel drops
    it when a process dies, even by SIGKILL)."""

    threads: threading.Lock
    fd: int | None


def _writer_lock(store: Store) -> _WriterLock:
    with _WRITERS_GUARD:
        lock = _WRITERS.get(store)
        if lock is None:
            database = store.engine.url.database
            fd = None
            if database and database != ":memory:":
                fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
                weakref.finalize(store, os.close, fd)
            lock = _WRITERS[store] = _WriterLock(threading.Lock(), fd)
        return lock


class WriterBusy(SQLAlchemyError):
    """The SQLite writer lock was not free within the busy timeout: handled as SQLite's
    own "database is locked" (the edge answers 451 or spools; the worker tries later)."""


def _flock(fd: int, deadline: float) -> None:
    """An exclusive ``flock``, polled (at most 5 ms apart) so that it can time out."""
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WriterBusy("pipeline writer lock busy") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.005)


@contextmanager
def writer(store: Store) -> Iterator[None]:
    """Hold the writer lock for the block (SQLite; nothing on PostgreSQL). Raises
    :class:`WriterBusy` when it is not free within ``WRITER_TIMEOUT``."""
    if store.is_postgres:
        yield
        return
    lock = _writer_lock(store)
    deadline = time.monotonic() + WRITER_TIMEOUT
    if not lock.threads.acquire(timeout=WRITER_TIMEOUT):
        raise WriterBusy("pipeline writer lock busy")
    try:
        if lock.fd is None:
            yield
            return
        _flock(lock.fd, deadline)
        try:
            yield
        finally:
            fcntl.flock(lock.fd, fcntl.LOCK_UN)
    finally:
        lock.threads.release()
