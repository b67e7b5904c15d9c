"""The SMTP (or LMTP) edge: validate recipients, store the raw bytes, answer ``250``.

A thin edge in the manner of Zulip's email gateway: ``handle_RCPT`` refuses what is not
ours (no open relay), ``handle_DATA`` hands the bytes to :func:`intake.pipeline.accept`,
which commits them, and only then answers ``250``. When the database is down the answer
is ``451`` (the sender retries), or, with ``smtp_spool`` on, an fsynced spool file earns
the ``250`` and is moved into the database once it is back (``spool.py``). Parsing,
screening and the case all run later from the stored record, so a message that cannot be
parsed is quarantined there rather than refused here. ``handle_exception`` answers a
generic temporary error: no exception text ever reaches a client (PRODUCT.md, SMTP intake).

The server runs its own event loop in a thread, so ``start()``/``stop()`` are plain calls.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from intake.cases.db import Store
from intake.email import spool
from intake.email.mime import domain_of
from intake.email.parse import external_id_of
from intake.records import IntakeRecord
from intake.settings import Settings

log = logging.getLogger(__name__)

# Reply codes (RFC 5321 section 4.2, enhanced status codes from RFC 3463).
STORED = "250 2.0.0 OK: message stored"
RECIPIENT_OK = "250 2.1.5 Recipient OK"
UNKNOWN_MAILBOX = "550 5.1.1 No such mailbox here"
RELAY_DENIED = "550 5.7.1 Relaying denied"
TOO_BIG = "552 5.3.4 Message too big for this system"
LINE_TOO_LONG = "500 5.5.2 Line too long"
CANNOT_STORE = "451 4.3.0 Temporary failure storing the message; please try again later"
INTERNAL_ERROR = "451 4.3.0 Temporary local problem; please try again later"

# Real mail breaks RFC 5321's 1,000-octet line limit (HTML on one line); accept 1 MiB.
MAX_LINE = 1024 * 1024
# Per-connection command limits (aiosmtpd's command_call_limit): generous for real
# senders (a message with hundreds of recipients), a ceiling for abusive ones.
COMMAND_LIMITS = {"RCPT": 2000, "MAIL": 1000, "DATA": 1000, "RSET": 1000, "NOOP": 100,
                  "*": 50}
START_TIMEOUT = 10.0
DRAIN_TIMEOUT = 30.0
ACCEPT_THREADS = 4
SPOOL_REPLAY_SECONDS = 5.0


def _enhanced(status: str) -> str:
    """aiosmtpd's built-in size and line replies, with our enhanced codes."""
    if status.startswith("552 "):
        return TOO_BIG
    if status.startswith("500 Line too long"):
        return LINE_TOO_LONG
    return status


class _EnhancedReplies:
    """Mixed into aiosmtpd's SMTP/LMTP: lines up to MAX_LINE, our enhanced size replies."""

    line_length_limit = MAX_LINE

    async def push(self, status: Any) -> None:
        await super().push(_enhanced(status) if isinstance(status, str) else status)  # type: ignore[misc]


class _IntakeSMTP(_EnhancedReplies, SMTP):
    pass


class _IntakeLMTP(_EnhancedReplies, LMTP):
    pass


class IntakeHandler:
    """aiosmtpd handler: cheap checks at RCPT, durable storage at DATA."""

    def __init__(self, store: Store, settings: Settings, on_accept: Callable[[int], None],
                 executor: ThreadPoolExecutor, *, lmtp: bool = False) -> None:
        self.store = store
        self.on_accept = on_accept
        self.executor = executor
        self.lmtp = lmtp
        self.mailboxes = {m.lower() for m in settings.mailboxes}
        self.domains = {domain_of(m).lower() for m in settings.mailboxes}
        self.spool_dir = settings.spool_dir
        self.spool_enabled = settings.smtp_spool
        self.in_flight = 0

    def recipient_verdict(self, address: str) -> str | None:
        """None when the address is one of our mailboxes; else the refusal."""
        address = address.strip().lower()
        if address in self.mailboxes:
            return None
        domain = address.rsplit("@", 1)[-1] if "@" in address else ""
        return UNKNOWN_MAILBOX if domain in self.domains else RELAY_DENIED

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.recipient_verdict(address)
        if refusal:
            return refusal
        if address.lower() not in (r.lower() for r in envelope.rcpt_tos):
            envelope.rcpt_tos.append(address)
        return RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        record = IntakeRecord(
            channel="email", external_id=external_id_of(raw), received_at=datetime.now(UTC),
            raw=raw, sender=(envelope.mail_from or "").strip("<>"),
            recipients=tuple(r.lower() for r in envelope.rcpt_tos),
        )
        self.in_flight += 1
        try:
            status = await self._store(record)
        finally:
            self.in_flight -= 1
        if self.lmtp:  # RFC 2033 section 4.2: one reply per accepted recipient
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    async def _store(self, record: IntakeRecord) -> str:
        from intake.pipeline import StoreUnavailable, accept

        loop = asyncio.get_running_loop()
        try:
            message_id = await loop.run_in_executor(self.executor, accept, self.store, record)
        except StoreUnavailable:
            return await self._spool(record) if self.spool_enabled else CANNOT_STORE
        try:
            self.on_accept(message_id)
        except Exception:  # noqa: BLE001 - the message is stored; a wake-up is optional
            log.exception("wake-up after message %s failed", message_id)
        log.info("message %s stored (%d bytes)", message_id, len(record.raw))
        return STORED

    async def _spool(self, record: IntakeRecord) -> str:
        """The database is down: an fsynced spool file also earns a 250 (PRODUCT.md)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, spool.write, self.spool_dir, record)
        except OSError as exc:
            log.error("message not stored: database and spool both failed (%s)",
                      type(exc).__name__)
            return CANNOT_STORE
        log.warning("database unavailable: message spooled (%d bytes)", len(record.raw))
        return STORED

    async def replay_spool(self) -> None:
        """Move spooled messages into the database whenever it answers again."""
        loop = asyncio.get_running_loop()
        while True:
            if spool.pending(self.spool_dir):
                try:
                    await loop.run_in_executor(self.executor, spool.replay, self.store,
                                               self.spool_dir, self.on_accept)
                except Exception:  # noqa: BLE001 - retried on the next round
                    log.exception("spool replay failed")
            await asyncio.sleep(SPOOL_REPLAY_SECONDS)

    async def handle_exception(self, error: Exception) -> str:
        """Log ours with a traceback (no addresses, no content); answer generically."""
        log.error("SMTP session error: %s", type(error).__name__, exc_info=error)
        return INTERNAL_ERROR


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """STARTTLS is configuration: a certificate and key turn it on."""
    if not (settings.smtp_tls_cert and settings.smtp_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.smtp_tls_cert), str(settings.smtp_tls_key))
    return context


class SmtpIntake:
    """The listening server; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, store: Store, settings: Settings,
                 on_accept: Callable[[int], None]) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(ACCEPT_THREADS, thread_name_prefix="smtp-store")
        self.handler = IntakeHandler(store, settings, on_accept, self.executor,
                                     lmtp=settings.smtp_lmtp)
        self.port = settings.smtp_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _protocol(self) -> SMTP:
        cls = _IntakeLMTP if self.settings.smtp_lmtp else _IntakeSMTP
        return cls(self.handler, data_size_limit=self.settings.max_message_bytes,
                   enable_SMTPUTF8=True, hostname=domain_of(self.settings.mailboxes[0]),
                   ident="intake-bot", tls_context=tls_context(self.settings),
                   command_call_limit=COMMAND_LIMITS, loop=self._loop)

    def start(self) -> None:
        """Bind and serve in a background thread; raise if binding fails."""
        # aiosmtpd logs every address (and, at debug, every line) under "mail.log";
        # complaint mail is personal data, so only its warnings pass.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="smtp-intake",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError("SMTP intake did not start in time")
        if self._error is not None:
            raise self._error

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(loop.create_server(
                self._protocol, host=self.settings.smtp_host, port=self.settings.smtp_port))
            self.port = self._server.sockets[0].getsockname()[1]
            loop.create_task(self.handler.replay_spool())
        except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
            self._error = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def stop(self) -> None:
        """Stop accepting, let messages being stored finish, then close every session."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        drained = asyncio.run_coroutine_threadsafe(self._drain(), loop)
        try:
            drained.result(DRAIN_TIMEOUT + 5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(DRAIN_TIMEOUT)
            self.executor.shutdown(wait=True)
            self._thread = None

    async def _drain(self) -> None:
        assert self._server is not None
        self._server.close()
        deadline = asyncio.get_running_loop().time() + DRAIN_TIMEOUT
        while self.handler.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
