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
from dataclasses import dataclass, field

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
    # Waiters announce themselves with a shared ``flock`` on a second file, so the holder
    # can tell (``waiting``): ``announce_fd`` for this process's waiters, ``probe_fd`` (its
    # own open file, so its locks conflict with this process's) for the holder's check.
    announce_fd: int | None = None
    probe_fd: int | None = None
    waiters: int = 0  # this process's threads announced
    guard: threading.Lock = field(default_factory=threading.Lock)


def _writer_lock(store: Store) -> _WriterLock:
    with _WRITERS_GUARD:
        lock = _WRITERS.get(store)
        if lock is None:
            database = store.engine.url.database
            lock = _WRITERS[store] = _WriterLock(threading.Lock(), None)
            if database and database != ":memory:":
                lock.fd, lock.announce_fd, lock.probe_fd = (
                    os.open(f"{database}-writer.{name}", os.O_RDWR | os.O_CREAT, 0o600)
                    for name in ("lock", "wait", "wait"))
                for fd in (lock.fd, lock.announce_fd, lock.probe_fd):
                    weakref.finalize(store, os.close, fd)
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


def waiting(store: Store) -> bool:
    """Whether a writer that announced itself (the SMTP edge's ``accept``) waits for the
    lock: the holder may then commit what it has and let it in (SQLite only)."""
    if store.is_postgres:
        return False
    lock = _writer_lock(store)
    if lock.waiters:
        return True
    if lock.probe_fd is None:
        return False
    try:
        fcntl.flock(lock.probe_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True  # another process holds a shared lock: its writer waits
    fcntl.flock(lock.probe_fd, fcntl.LOCK_UN)
    return False


@contextmanager
def _announced(lock: _WriterLock) -> Iterator[None]:
    """Announce a waiting writer for the block (see :func:`waiting`)."""
    with lock.guard:
        lock.waiters += 1
        if lock.waiters == 1 and lock.announce_fd is not None:
            fcntl.flock(lock.announce_fd, fcntl.LOCK_SH)  # a probe holds it for a moment
    try:
        yield
    finally:
        with lock.guard:
            lock.waiters -= 1
            if lock.waiters == 0 and lock.announce_fd is not None:
                fcntl.flock(lock.announce_fd, fcntl.LOCK_UN)


@contextmanager
def writer(store: Store, *, announce: bool = False) -> Iterator[None]:
    """Hold the writer lock for the block (SQLite; nothing on PostgreSQL). Raises
    :class:`WriterBusy` when it is not free within ``WRITER_TIMEOUT``. With ``announce``
    the wait is visible to the holder (:func:`waiting`), which then ends its transaction
    early."""
    if store.is_postgres:
        yield
        return
    lock = _writer_lock(store)
    deadline = time.monotonic() + WRITER_TIMEOUT
    if announce:
        with _announced(lock):
            _acquire(lock, deadline)
    else:
        _acquire(lock, deadline)
    try:
        yield
    finally:
        if lock.fd is not None:
            fcntl.flock(lock.fd, fcntl.LOCK_UN)
        lock.threads.release()


def _acquire(lock: _WriterLock, deadline: float) -> None:
    """The thread lock, then the file lock, by ``deadline`` (else :class:`WriterBusy`)."""
    if not lock.threads.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise WriterBusy("pipeline writer lock busy")
    if lock.fd is None:
        return
    try:
        _flock(lock.fd, deadline)
    except BaseException:
        lock.threads.release()
        raise
