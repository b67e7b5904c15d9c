"""``intake-bot serve``: run every configured component until SIGTERM or Ctrl-C.

Start-up order: settings (a bad value exits 2 with the setting named), the case store (a
fresh SQLite database is created at the latest schema; one behind it is refused), then the
pipeline worker, the SMTP intake, the outbox worker, Slack when configured, the reminder
scheduler and the health endpoint when configured. Each logs one readiness line. On a
signal the SMTP intake stops accepting first, then the workers finish what they are doing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import click

from intake.cases.db import SchemaBehind, Store, ensure_schema
from intake.settings import ConfigError, Settings, load_settings, set_settings

log = logging.getLogger("intake.serve")


def configure_logging(level: str) -> None:
    from intake.logs import setup_logging

    setup_logging(level)


class Service:
    """The running components and the one stop event they share."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.smtp_port: int | None = None
        self.closers: list[Callable[[], Awaitable[None] | None]] = []

    def spawn(self, name: str, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._crashed)
        self.tasks.append(task)

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("component %s stopped: %s", task.get_name(),
                  type(task.exception()).__name__, exc_info=task.exception())
        self.stop.set()

    async def start(self) -> None:
        from intake.email.outbox import OutboxWorker
        from intake.email.server import SmtpIntake
        wake = await self._start_pipeline()
        smtp = SmtpIntake(self.store, self.settings, on_accept=wake)
        await asyncio.to_thread(smtp.start)
        self.closers.append(smtp.stop)
        self.smtp_port = smtp.port
        mode = "LMTP" if self.settings.smtp_lmtp else "SMTP"
        log.info("%s intake ready on %s:%s", mode, self.settings.smtp_host, smtp.port)
        self.spawn("outbox", OutboxWorker(self.store, self.settings).run(self.stop))
        log.info("outbox worker ready, relay %s:%s", self.settings.relay_host,
                 self.settings.relay_port)
        await self._start_slack(wake)
        await self._start_optional()

    async def _start_pipeline(self) -> Callable[[int], None]:
        """Pipeline workers: one child process by default, or a thread here when set to 0."""
        count = self.settings.pipeline_processes
        if count == 0:
            from intake.pipeline import PipelineWorker

            worker = PipelineWorker(self.store, self.settings)
            self.spawn("pipeline", worker.run(self.stop))
            return worker.wake
        from intake.worker_processes import PipelineProcesses

        workers = PipelineProcesses(self.settings, count)
        await asyncio.to_thread(workers.start)
        self.spawn("pipeline-watch", workers.watch(self.stop))
        self.closers.append(lambda: asyncio.to_thread(workers.stop))
        log.info("pipeline ready: %s worker process(es)", count)
        return workers.wake

    async def _start_slack(self, on_accept: Callable[[int], None]) -> None:
        if self.settings.slack_mode == "off":
            log.info("Slack off (no Slack tokens configured)")
            return
        from bot.server import SlackRunner

        runner = SlackRunner(self.settings, self.store, on_accept)
        await runner.start()
        self.closers.append(runner.stop)

    async def _start_optional(self) -> None:
        from intake.reminders import ReminderScheduler

        self.spawn("reminders", ReminderScheduler(self.store, self.settings).run(self.stop))
        log.info("reminder scheduler ready")
        if self.settings.health_port is not None:
            from intake.health import HealthServer

            health = HealthServer(self.store, self.settings, self.smtp_port)
            await health.start()
            self.closers.append(health.stop)
            log.info("health endpoint ready on %s:%s", self.settings.health_host, health.port)

    async def shutdown(self) -> None:
        for close in reversed(self.closers):  # the listeners stop accepting first
            result = close()
            if asyncio.iscoroutine(result):
                await result
        self.stop.set()
        await asyncio.wait(self.tasks, timeout=30)
        for task in self.tasks:
            task.cancel()
        self.store.dispose()


async def _serve(settings: Settings, store: Store) -> None:
    service = Service(settings, store)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop.set)
    try:
        await service.start()
        log.info("intake-bot ready")
        await service.stop.wait()
        log.info("stopping")
    finally:
        await service.shutdown()
    log.info("stopped")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"intake-bot: {message}", err=True)
    sys.exit(code)


@click.command("serve")
def serve_command() -> None:
    """Run SMTP intake, the pipeline, the outbox, Slack and reminders until interrupted."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        return
    set_settings(settings)
    configure_logging(settings.log_level)
    try:
        from intake.letters import get_letter_facts
        from intake.rules.rulebook import get_rulebook

        get_rulebook()  # a bad rules file stops start-up with the field named
        get_letter_facts()
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
    store = Store(settings.database_url)
    try:
        ensure_schema(store.engine)
    except SchemaBehind as exc:
        _fail(str(exc), 1)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        _fail(f"cannot open the database: {type(exc).__name__}: {exc}".splitlines()[0], 1)
    try:
        asyncio.run(_serve(settings, store))
    except OSError as exc:
        _fail(f"cannot start: {exc}", 1)
