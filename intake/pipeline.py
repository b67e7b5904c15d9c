"""Where an email, a Slack message or a phone call becomes a case.

Every channel hands an :class:`~intake.records.IntakeRecord` to :func:`accept`, which
stores the raw input and commits before anything can fail (the SMTP edge answers ``250``
only after that). The worker then takes due messages in batches, in two phases:

1. *Prepare*, without any write lock: read the raw rows, parse them and classify them
   together (``classify_many``). This is most of the CPU, and nothing is written.
2. *Write*, in one short transaction for the whole batch: claim each message (still due?
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers) and run ``STEPS``
   with the prepared parse and labels, without autoflush: the batch's rows are written
   together before the commit (``Batch.flush``). Work prepared for a message that another
   worker finished meanwhile is simply dropped.

If anything in a batch fails, the batch is rolled back whole and its messages are
processed one by one, each in its own transaction, so a bad message is recorded alone and
nothing is half-written. A crash leaves the messages ``pending`` and they are processed
again, so every step is idempotent. A step that raises ``InputError`` quarantines the
message for a person; any other failure marks it ``failed`` and it is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, defer, selectinload

from intake.cases.db import Store
from intake.cases.models import FAILED, PENDING, QUARANTINED, Message
from intake.classify import ClassifyInput, get_classifier
from intake.errors import InputError
from intake.metrics import CLASSIFY_SECONDS
from intake.records import Classification, IntakeRecord, ParsedMessage
from intake.settings import Settings, get_settings
from intake.steps.classify import classify_input, classify_message
from intake.steps.context import Batch, Context
from intake.steps.deadlines import write_deadlines
from intake.steps.dedupe import mark_duplicate
from intake.steps.letter import prepare_letter, queue_letters
from intake.steps.notify import notify_staff
from intake.steps.open_case import open_case
from intake.steps.parse import parse_message, parse_raw
from intake.steps.screen import screen_machines
from intake.steps.thread import join_thread
from intake.writer_lock import WriterBusy, writer

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
# Messages prepared together and written in one transaction. Larger batches amortise the
# commit and the classifier call, but hold SQLite's write lock longer per transaction.
BATCH_SIZE = 8



class StoreUnavailable(Exception):
    """The raw input could not be stored: the channel must not confirm receipt."""


@dataclass(frozen=True)
class Outcome:
    message_id: int
    disposition: str
    case_reference: str | None = None


_STORE_RAW = insert(Message.__table__).returning(Message.__table__.c.id)


def accept(store: Store, record: IntakeRecord) -> int:
    """Store the raw input durably and return its message id (committed on return)."""
    # One Core INSERT … RETURNING on the table, compiled once: the row is not used again
    # here, so no ORM object and no unit of work in the SMTP edge's process.
    row = {"channel": record.channel, "external_id": record.external_id[:512],
           "received_at": record.received_at, "raw": record.raw,
           "sender": record.sender[:512], "recipients": list(record.recipients),
           "disposition": PENDING}
    try:
        with writer(store), store.session() as session:
            message_id = session.connection().execute(
                _STORE_RAW, row).scalar_one()
    except (SQLAlchemyError, OSError) as exc:  # OSError: the writer lock file
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


def _claim(session: Session, store: Store, ids: list[int], *,
           raw: bool = True) -> dict[int, Message]:
    """The messages of ``ids`` still due and not held by another worker, by id, with their
    attachment rows (one query for the batch; the parse step replaces them). Without
    ``raw`` when the messages are already parsed (a step that needs it loads it)."""
    query = select(Message).where(Message.id.in_(ids),
                                  Message.disposition.in_((PENDING, FAILED)))
    query = query.options(selectinload(Message.attachments))
    if not raw:
        query = query.options(defer(Message.raw))
    if store.is_postgres:
        query = query.with_for_update(skip_locked=True)
    return {msg.id: msg for msg in session.execute(query).scalars()}


@dataclass
class Prepared:
    """What the read-only phase worked out for one message (None: the step does it)."""

    message_id: int
    parsed: ParsedMessage | None = None
    labels: Classification | None = None


def _prepare(store: Store, ids: list[int]) -> list[Prepared]:
    """Read the due messages of ``ids`` and prepare them, without any write lock."""
    with store.session() as session:
        rows = session.execute(
            select(Message.id, Message.channel, Message.raw, Message.received_at)
            .where(Message.id.in_(ids), Message.disposition.in_((PENDING, FAILED)))
            .order_by(Message.id)).all()
    return _prepare_rows(rows)


def _prepare_rows(rows: Sequence[Any]) -> list[Prepared]:
    """Parse and classify (rows with ``id``, ``channel``, ``raw``, ``received_at``). A
    failure here is not recorded: the message is left to its own transaction, whose step
    fails again, in order, and is recorded there."""
    prepared, inputs = [], []
    for row in rows:
        item = Prepared(row.id)
        prepared.append(item)
        try:
            item.parsed = parse_raw(row.channel, row.raw)
        except Exception:  # noqa: BLE001 - raised again (and recorded) by the parse step
            continue
        inputs.append((item, classify_input(item.parsed, row.channel, row.received_at)))
    _classify_all(inputs)
    return prepared


def _classify_all(inputs: list[tuple[Prepared, ClassifyInput]]) -> None:
    """One ``classify_many`` call for the batch (spaCy's ``nlp.pipe``)."""
    if not inputs:
        return
    begin = time.perf_counter()
    try:
        results = get_classifier().classify_many([given for _, given in inputs])
    except Exception:  # noqa: BLE001 - each message's classify step tries on its own
        return
    each = (time.perf_counter() - begin) / len(inputs)
    for (item, _), result in zip(inputs, results, strict=True):
        item.labels = result
        CLASSIFY_SECONDS.observe(each)


def _run_steps(session: Session, settings: Settings, msg: Message,
               item: Prepared, batch: Batch) -> Outcome:
    # Set first, so the message row's one UPDATE (at the steps' first flush) carries them.
    msg.processed_at = datetime.now(UTC)
    msg.next_attempt_at = None
    ctx = Context(session=session, settings=settings, message=msg, parsed=item.parsed,
                  labels=item.labels, batch=batch)
    for step in STEPS:
        step(ctx)
        if ctx.done:
            break
    ref = ctx.case.reference if ctx.case else None
    return Outcome(msg.id, msg.disposition, ref)


def _reply_addresses(batch: list[Prepared], claimed: dict[int, Message]) -> list[str | None]:
    """Where the batch's email letters would go, for the reply limit's one query."""
    return [item.parsed.reply_address for item in batch
            if item.parsed is not None and item.message_id in claimed
            and claimed[item.message_id].channel == "email"]


def _join_originals(claimed: dict[int, Message]) -> None:
    """A duplicate of a message of the same batch joins the case the original opened:
    that case is inserted with the batch, so the duplicate step read no case id."""
    for msg in claimed.values():
        original = claimed.get(msg.duplicate_of_id) if msg.duplicate_of_id else None
        if original is not None and msg.case_id is None and original.case is not None:
            msg.case = original.case


def _write(store: Store, batch: list[Prepared], settings: Settings) -> list[Outcome]:
    """One transaction for the batch: claim what is still due, run every step, commit."""
    outcomes = []
    with writer(store), store.session() as session:
        _lock_first(session, store, batch[0].message_id)
        claimed = _claim(session, store, [item.message_id for item in batch],
                         raw=any(item.parsed is None for item in batch))
        shared = Batch.of(session)
        shared.read_replies(session, _reply_addresses(batch, claimed))
        shared.read_originals(session, claimed.values())
        with session.no_autoflush:  # one flush for the batch's rows, in shared.flush
            for n, item in enumerate(batch):
                msg = claimed.get(item.message_id)
                if msg is not None:  # None: already processed, or another worker holds it
                    shared.left = len(batch) - n
                    outcomes.append(_run_steps(session, settings, msg, item, shared))
            _join_originals(claimed)
        shared.flush(session)
    return outcomes


def _record_failure(store: Store, message_id: int, exc: Exception) -> Outcome:
    """Quarantine the sender's fault; retry ours with backoff, then quarantine."""
    with writer(store), store.session() as session:
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


def _log_outcome(outcome: Outcome) -> None:
    log.info("message %s: %s %s", outcome.message_id, outcome.disposition,
             outcome.case_reference or "")


def _process_one(store: Store, item: Prepared, settings: Settings) -> Outcome | None:
    """One message in its own transaction; a failure is recorded against it alone."""
    try:
        outcomes = _write(store, [item], settings)
    except WriterBusy:
        raise  # the lock, not the message: nothing to record; the worker tries later
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
        level = logging.INFO if isinstance(exc, InputError) else logging.ERROR
        log.log(level, "message %s not processed: %s", item.message_id, describe(exc),
                exc_info=not isinstance(exc, InputError | OperationalError))
        return _record_failure(store, item.message_id, exc)
    for outcome in outcomes:
        _log_outcome(outcome)
    return outcomes[0] if outcomes else None


def process_message(store: Store, message_id: int,
                    settings: Settings | None = None) -> Outcome | None:
    """Run every step for one stored message; None when there was nothing to do."""
    settings = settings or get_settings()
    prepared = _prepare(store, [message_id]) or [Prepared(message_id)]
    return _process_one(store, prepared[0], settings)


def _write_claimed(store: Store, ids: list[int],
                   settings: Settings) -> tuple[list[Outcome], list[Prepared]]:
    """PostgreSQL: claim the batch first (``FOR UPDATE SKIP LOCKED``), then prepare and
    write it in the same transaction. Only these rows are locked meanwhile, and another
    worker skips them instead of preparing them too. Returns the outcomes, and the claimed
    messages whose preparation failed (each is left to a transaction of its own)."""
    with store.session() as session:
        claimed = _claim(session, store, ids)
        prepared = _prepare_rows(sorted(claimed.values(), key=lambda msg: msg.id))
        shared = Batch.of(session)
        ready = [item for item in prepared if item.parsed is not None]
        shared.read_replies(session, _reply_addresses(ready, claimed))
        shared.read_originals(session, (claimed[item.message_id] for item in ready))
        outcomes = []
        with session.no_autoflush:  # one flush for the batch's rows, in shared.flush
            for n, item in enumerate(ready):
                shared.left = len(ready) - n
                outcomes.append(_run_steps(session, settings, claimed[item.message_id],
                                           item, shared))
            _join_originals(claimed)
        shared.flush(session)
    return outcomes, [item for item in prepared if item.parsed is None]


def _write_prepared(store: Store, ids: list[int],
                    settings: Settings) -> tuple[list[Outcome], list[Prepared]]:
    """SQLite: prepare without the write lock, then claim and write in one short
    transaction (work prepared for a message finished meanwhile is dropped)."""
    prepared = _prepare(store, ids)
    ready = [item for item in prepared if item.parsed is not None]
    if len(ready) < 2:
        return [], prepared
    return _write(store, ready, settings), [item for item in prepared if item.parsed is None]


def process_batch(store: Store, ids: list[int],
                  settings: Settings | None = None) -> list[Outcome]:
    """Process several stored messages: prepared together, written in one transaction.

    A message whose preparation failed, and every message of a batch that failed, is
    processed on its own instead (in id order), so its failure is recorded alone.
    """
    settings = settings or get_settings()
    write = _write_claimed if store.is_postgres else _write_prepared
    try:
        outcomes, rest = write(store, ids, settings)
    except WriterBusy:
        raise  # the lock, not the messages: the worker tries later
    except Exception as exc:  # noqa: BLE001 - rolled back whole; retried one by one
        log.info("batch of %d messages rolled back (%s); processing one by one",
                 len(ids), describe(exc))
        outcomes, rest = [], [Prepared(message_id) for message_id in ids]
    else:
        for outcome in outcomes:
            _log_outcome(outcome)
    for item in rest:
        outcome = _process_one(store, item, settings)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


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
                    keep_going: Callable[[], bool] = lambda: True,
                    batch_size: int = BATCH_SIZE) -> list[Outcome]:
    """Process what is due (pending, or failed and due for a retry), oldest first, in
    batches of ``batch_size``."""
    settings = settings or get_settings()
    ids = due_message_ids(store, limit)
    outcomes: list[Outcome] = []
    for start in range(0, len(ids), max(1, batch_size)):
        if not keep_going():
            break
        outcomes += process_batch(store, ids[start:start + batch_size], settings)
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
