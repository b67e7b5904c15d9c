"""Where an email, a Slack message or a phone call becomes a case.

Every channel hands an :class:`~intake.records.IntakeRecord` to :func:`accept`, which
stores the raw input and commits before anything can fail (the SMTP edge answers ``250``
only after that). :func:`process_message` then runs ``STEPS`` in order from the stored row,
in one transaction: a crash leaves the message ``pending`` and it is simply processed again,
so every step is idempotent. A step that raises ``InputError`` quarantines the message for
a person; any other failure marks it ``failed`` and it is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from intake.cases.db import Store
from intake.cases.models import FAILED, PENDING, QUARANTINED, Message
from intake.errors import InputError
from intake.records import IntakeRecord
from intake.settings import Settings, get_settings
from intake.steps.classify import classify_message
from intake.steps.context import Context
from intake.steps.deadlines import write_deadlines
from intake.steps.dedupe import mark_duplicate
from intake.steps.letter import prepare_letter, queue_letters
from intake.steps.notify import notify_staff
from intake.steps.open_case import open_case
from intake.steps.parse import parse_message
from intake.steps.screen import screen_machines
from intake.steps.thread import join_thread

log = logging.getLogger(__name__)

STEPS: tuple[Callable[[Context], None], ...] = (
    parse_message,     # raw bytes -> text, headers, attachments
    mark_duplicate,    # same external id seen before -> duplicate
    screen_machines,   # bounces, auto-replies, lists, spam -> stored, never answered
    join_thread,       # a reply to our letter -> joins its case
    classify_message,  # labels and fields (nlp/)
    open_case,         # reference, complainant, labels, proposed links
    write_deadlines,   # rules engine, with the rule behind each date
    prepare_letter,    # templates/, held or ready
    queue_letters,     # outbox (email) or case thread (post)
    notify_staff,      # triage post and urgent alerts
)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)


class StoreUnavailable(Exception):
    """The raw input could not be stored: the channel must not confirm receipt."""


@dataclass(frozen=True)
class Outcome:
    message_id: int
    disposition: str
    case_reference: str | None = None


def accept(store: Store, record: IntakeRecord) -> int:
    """Store the raw input durably and return its message id (committed on return)."""
    msg = Message(channel=record.channel, external_id=record.external_id[:512],
                  received_at=record.received_at, raw=record.raw,
                  sender=record.sender[:512], recipients=list(record.recipients),
                  disposition=PENDING)
    try:
        with store.session() as session:
            session.add(msg)
            session.flush()
            message_id = msg.id
    except SQLAlchemyError as exc:
        log.error("could not store %s message: %s", record.channel, type(exc).__name__)
        raise StoreUnavailable(type(exc).__name__) from None
    log.info("stored message %s from %s", message_id, record.channel)
    return message_id


def describe(exc: BaseException) -> str:
    """An error's class, and for OS errors their cause ("No space left on device"): never
    the message text of other errors, which may quote personal data."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__} ({exc.strerror})"
    return type(exc).__name__


def _lock_first(session: Session, store: Store, message_id: int) -> None:
    """SQLite: take the write lock before reading, so the claim sees every commit made by
    another worker process (a no-op UPDATE begins the transaction and waits for the lock).
    PostgreSQL claims with FOR UPDATE SKIP LOCKED instead."""
    if not store.is_postgres:
        session.execute(update(Message).where(Message.id == message_id)
                        .values(attempts=Message.attempts))


def _claim(session: Session, store: Store, message_id: int) -> Message | None:
    query = select(Message).where(Message.id == message_id,
                                  Message.disposition.in_((PENDING, FAILED)))
    if store.is_postgres:
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).scalar_one_or_none()


def _run_steps(store: Store, message_id: int, settings: Settings) -> Outcome | None:
    with store.session() as session:
        _lock_first(session, store, message_id)
        msg = _claim(session, store, message_id)
        if msg is None:
            return None  # already processed, or another worker holds it
        ctx = Context(session=session, settings=settings, message=msg)
        for step in STEPS:
            step(ctx)
            if ctx.done:
                break
        msg.processed_at = datetime.now(UTC)
        msg.next_attempt_at = None
        ref = ctx.case.reference if ctx.case else None
        return Outcome(msg.id, msg.disposition, ref)


def _record_failure(store: Store, message_id: int, exc: Exception) -> Outcome:
    """Quarantine the sender's fault; retry ours with backoff, then quarantine."""
    with store.session() as session:
        _lock_first(session, store, message_id)
        msg = session.get(Message, message_id)
        assert msg is not None
        if msg.disposition not in (PENDING, FAILED):
            # Another worker finished it meanwhile: its result stands.
            return Outcome(msg.id, msg.disposition, None)
        msg.attempts += 1
        if isinstance(exc, InputError):
            msg.disposition, msg.reason = QUARANTINED, exc.reason
        elif msg.attempts >= MAX_ATTEMPTS:
            msg.disposition = QUARANTINED
            msg.reason = f"gave up after {msg.attempts} attempts: {describe(exc)}"
        else:
            msg.disposition = FAILED
            msg.reason = f"attempt {msg.attempts} failed: {describe(exc)}"
            msg.next_attempt_at = datetime.now(UTC) + FIRST_RETRY * 2 ** (msg.attempts - 1)
        return Outcome(msg.id, msg.disposition, None)


def process_message(store: Store, message_id: int,
                    settings: Settings | None = None) -> Outcome | None:
    """Run every step for one stored message; None when there was nothing to do."""
    settings = settings or get_settings()
    try:
        outcome = _run_steps(store, message_id, settings)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
        level = logging.INFO if isinstance(exc, InputError) else logging.ERROR
        log.log(level, "message %s not processed: %s", message_id, describe(exc),
                exc_info=not isinstance(exc, InputError | OperationalError))
        return _record_failure(store, message_id, exc)
    if outcome is not None:
        log.info("message %s: %s %s", message_id, outcome.disposition,
                 outcome.case_reference or "")
    return outcome


def due_message_ids(store: Store, limit: int = 50) -> list[int]:
    now = datetime.now(UTC)
    with store.session() as session:
        return list(session.execute(
            select(Message.id)
            .where(or_(Message.disposition == PENDING,
                       (Message.disposition == FAILED) & (Message.next_attempt_at <= now)))
            .order_by(Message.id).limit(limit)
        ).scalars())


def process_pending(store: Store, *, limit: int = 50, settings: Settings | None = None,
                    keep_going: Callable[[], bool] = lambda: True) -> list[Outcome]:
    """Process what is due (pending, or failed and due for a retry), oldest first."""
    outcomes = []
    for message_id in due_message_ids(store, limit):
        if not keep_going():
            break
        outcome = process_message(store, message_id, settings)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


class PipelineWorker:
    """Processes stored messages in the background; ``wake()`` after each accept."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self, _message_id: int | None = None) -> None:
        """Thread-safe: may be called from the SMTP handler or a Slack listener."""
        loop = self._loop
        if loop is None:
            return
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        log.info("pipeline worker ready")
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(process_pending, self.store,
                                               settings=self.settings)
            except SQLAlchemyError as exc:
                log.error("pipeline worker: database error %s", type(exc).__name__)
                done = []
            if done:
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(self._wake.wait()),
                       asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.settings.worker_poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
