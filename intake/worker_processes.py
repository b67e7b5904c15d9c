"""Pipeline workers in their own processes, so the listeners never wait on them.

Parsing, classifying and rendering letters is CPU work under Python's global lock; run in
the same process it competes with the SMTP edge, the outbox and the Slack listeners. With
``pipeline_processes`` above 0 (the default is 1), ``serve`` runs the pipeline in that many
child processes; 0 keeps it in a thread of the main process. One child measured as fast as
the thread on a busy two-core machine and halved SQLite's DATA-to-250 time; more than one
only helps with spare cores (on SQLite the writes still take turns). Children are woken
through a shared event after each accept, poll otherwise, and are restarted if one dies.
Several children (or several machines) never process a message twice: rows are claimed
with ``SKIP LOCKED`` on PostgreSQL, and on SQLite writers take turns (a lock file beside
the database, then SQLite's own lock).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import signal
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from intake.settings import Settings

log = logging.getLogger(__name__)
CTX = mp.get_context("spawn")


def _child(settings_data: dict[str, Any], wake: MpEvent, stop: MpEvent, index: int,
           parent: int) -> None:
    """Entry point of one worker process: process what is due until told to stop."""
    from intake.cases.db import Store
    from intake.logs import setup_logging
    from intake.pipeline import process_pending
    from intake.settings import load_settings, set_settings

    # The parent decides when to stop (a whole-group SIGTERM or Ctrl-C must not cut a
    # worker short); a worker whose parent died exits by itself. ``parent`` comes from the
    # parent: one that died while this child was still starting is noticed too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = load_settings(**settings_data)
    set_settings(settings)
    setup_logging(settings.log_level)
    store = Store(settings.database_url)
    log.info("pipeline worker %s ready (pid %s)", index, os.getpid())
    try:
        def keep_going() -> bool:
            return not stop.is_set() and os.getppid() == parent

        while keep_going():
            try:
                done = process_pending(store, settings=settings, keep_going=keep_going)
            except Exception as exc:  # noqa: BLE001 - keep the worker alive; logged
                log.error("pipeline worker %s: %s", index, type(exc).__name__)
                done = []
            if not done:
                wake.wait(settings.worker_poll_seconds)
                wake.clear()
    finally:
        store.dispose()


class PipelineProcesses:
    """Starts, wakes, watches and stops the pipeline worker processes."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.wake_event = CTX.Event()
        self.stop_event = CTX.Event()
        self.procs: list[SpawnProcess] = []

    def _spawn(self, index: int) -> SpawnProcess:
        data = self.settings.model_dump()
        proc = CTX.Process(target=_child, name=f"intake-pipeline-{index}", daemon=True,
                           args=(data, self.wake_event, self.stop_event, index,
                                 os.getpid()))
        proc.start()
        return proc

    def start(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.count)]

    def wake(self, _message_id: int | None = None) -> None:
        """Thread-safe and cheap: called by the SMTP handler and Slack listeners."""
        self.wake_event.set()

    async def watch(self, stop: asyncio.Event) -> None:
        """Restart a worker that died (its claimed message stays due and is retried)."""
        while not stop.is_set():
            for i, proc in enumerate(self.procs):
                if not proc.is_alive() and not self.stop_event.is_set():
                    log.error("pipeline worker %s exited (%s); restarting", i, proc.exitcode)
                    self.procs[i] = self._spawn(i)
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                continue

    def stop(self, timeout: float = 30.0) -> None:
        """Let each worker finish the message in hand, then exit."""
        self.stop_event.set()
        self.wake_event.set()
        for proc in self.procs:
            proc.join(timeout)
            if proc.is_alive():
                log.error("pipeline worker %s did not stop; terminating", proc.name)
                proc.terminate()
                proc.join(5)
