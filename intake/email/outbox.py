"""The outbox: letters and alerts queued in the database, sent by a worker through a relay.

Queuing happens in the caller's transaction, so a letter exists in the outbox exactly when
its case does; the idempotency key (``letter:<id>``) makes queuing the same letter twice a
no-op. The Message-ID is fixed when the letter is queued; the MIME message is built by the
worker from the stored letter on its first attempt and stored, so a retry resends the
same bytes. The worker claims an item with a compare-and-set on its status (``SKIP LOCKED`` on
PostgreSQL, so several processes share one outbox), and moves it through:

``pending`` -> ``sending`` (claimed; nothing handed to the relay yet) -> ``delivering``
(the message body is being handed over) -> ``sent``.

A relay that is down or answers 4xx puts the item back to ``pending`` with exponential
backoff; a 5xx marks it ``failed``. After a crash, a ``sending`` item is retried once its
lease runs out (the relay never got the body). A ``delivering`` item is the one moment we
cannot know whether the relay kept the mail; it is never sent again (a restart never sends
a letter twice) but marked ``failed`` with a flag on the case, so a person checks it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from intake.cases.db import Store
from intake.cases.models import Case, Letter, OutboxItem
from intake.email.mime import (
    Outgoing,
    build_message,
    domain_of,
    mailbox,
    new_message_id,
    valid_message_id,
)
from intake.errors import InputError
from intake.settings import Settings

log = logging.getLogger(__name__)

PENDING, SENDING, DELIVERING, SENT, FAILED = "pending", "sending", "delivering", "sent", "failed"
RELAY_TIMEOUT = 30.0
LEASE = timedelta(seconds=RELAY_TIMEOUT * 2)
MAX_BACKOFF = timedelta(hours=6)
BATCH = 50
FLAG_FAILED = "letter_failed"
FLAG_UNKNOWN = "letter_delivery_unknown"


def letter_key(letter: Letter) -> str:
    return f"letter:{letter.id}"


def _existing(session: Session, key: str) -> OutboxItem | None:
    return session.execute(select(OutboxItem).where(OutboxItem.idempotency_key == key)
                           ).scalar_one_or_none()


def _add_once(session: Session, item: OutboxItem) -> OutboxItem:
    """Insert a key the caller found absent; if another writer raced us, return theirs."""
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:
        found = _existing(session, item.idempotency_key)
        assert found is not None
        return found
    return item


def letter_subject(letter: Letter, case: Case) -> str:
    """The letter's subject, with the case reference in it (replies thread by it)."""
    subject = letter.subject or "Your complaint"
    return subject if case.reference in subject else f"{subject} [{case.reference}]"


# session.info key: the letters inserted by the session's current transaction (the
# objects: the pipeline inserts them with its batch, so they may have no id yet). No
# outbox row can name them yet, so queuing one needs no lookup and no savepoint (the
# unique key would still refuse a second row).
FRESH_LETTERS = "intake.fresh_letters"


# session.info key: a callable ``(model, **values)`` that inserts an append-only row with
# the rest of the transaction's rows (the pipeline's batch), if the caller set one; a
# value may then be a ``Later`` (``intake.steps.context``), worked out after its flush.
INSERT_LATER = "intake.insert_later"


def mark_fresh(session: Session, letter: Letter) -> None:
    """A letter just inserted by this transaction: :func:`queue_letter_email` skips its
    lookup and keeps the Message-ID the letter was inserted with."""
    session.info.setdefault(FRESH_LETTERS, set()).add(letter)


def fresh_message_id(case: Case, settings: Settings) -> str:
    """A new letter's Message-ID, with the case reference as its tag."""
    return new_message_id(domain_of(settings.letters_from), case.reference)


def queue_letter_email(session: Session, letter: Letter, case: Case, *, to: str,
                       in_reply_to: str | None, references: list[str],
                       settings: Settings) -> OutboxItem:
    """Queue a letter as multipart text + HTML mail, once per letter (idempotent).

    The Message-ID is fixed here (or when the letter was inserted, for a letter of this
    transaction) and stored on both rows. The MIME message itself is built by the sender
    (:func:`letter_raw`) from the stored letter, unless the thread has References beyond
    the letter's In-Reply-To: no row keeps those, so that mail is built now. An unusable
    address fails the letter here either way.
    """
    fresh = letter in session.info.get(FRESH_LETTERS, ())
    if not fresh or session.info.get(INSERT_LATER) is None:
        session.flush()  # the letter needs its id for the key (the batch's rows: later)
    if not fresh:
        existing = _existing(session, letter_key(letter))
        if existing is not None:
            return existing
    message_id = (letter.message_id if fresh else None) or fresh_message_id(case, settings)
    item = OutboxItem(idempotency_key=letter_key(letter), letter_id=letter.id,
                      purpose="letter", envelope_from="", recipients=[to], raw=b"",
                      message_id=message_id, status=PENDING, next_attempt_at=_now())
    parent = valid_message_id(in_reply_to)
    try:
        mailbox(to)
        if any(ref != parent for ref in map(valid_message_id, references) if ref):
            mail = _letter_mail(letter, case, settings, to=to, message_id=message_id,
                                in_reply_to=in_reply_to, references=references)
            item.raw = build_message(mail).as_bytes()
    except InputError as exc:  # an unusable address: the letter fails, the case stands
        item.status, item.last_error = FAILED, exc.reason
        if fresh:
            letter.message_id = None  # never queued: as a letter that was not fresh
        _fail_letter(letter, exc.reason)
        return _add(session, item, letter if fresh else None)
    # Only what changed: a fresh letter already has these, and an attribute set even to
    # its own value makes the next autoflush run the unit of work.
    for name, value in (("message_id", message_id), ("status", "queued"),
                        ("recipient", to), ("in_reply_to", parent)):
        if getattr(letter, name) != value:
            setattr(letter, name, value)
    return _add(session, item, letter if fresh else None)


def _add(session: Session, item: OutboxItem, fresh: Letter | None) -> OutboxItem:
    """Insert the item. A fresh letter's is inserted with the transaction's other rows
    when the caller collects them (the returned item then stays outside the session, and
    its key and letter id are worked out when those rows are inserted)."""
    if fresh is None:
        return _add_once(session, item)
    later = session.info.get(INSERT_LATER)
    if later is None:
        session.add(item)
        return item
    from intake.steps.context import Later, id_of

    key = item.idempotency_key if fresh.id is not None else Later(lambda: letter_key(fresh))
    later(OutboxItem, idempotency_key=key, letter_id=id_of(fresh),
          purpose=item.purpose, envelope_from=item.envelope_from, recipients=item.recipients,
          raw=item.raw, message_id=item.message_id, status=item.status, attempts=0,
          next_attempt_at=item.next_attempt_at, last_error=item.last_error)
    return item


def _letter_mail(letter: Letter, case: Case, settings: Settings, *, to: str,
                 message_id: str, in_reply_to: str | None,
                 references: list[str]) -> Outgoing:
    return Outgoing(from_address=settings.letters_from, to=[to],
                    subject=letter_subject(letter, case), text=letter.body_text,
                    html=letter.body_html or None, message_id=message_id,
                    in_reply_to=in_reply_to, references=list(references))


def letter_raw(letter: Letter, item: OutboxItem, settings: Settings) -> bytes:
    """The letter's mail, built from what its rows hold: the same Message-ID and thread
    on every attempt (the bytes are stored after the first build, so a retry resends
    them unchanged)."""
    mail = _letter_mail(letter, letter.case, settings, to=item.recipients[0],
                        message_id=item.message_id, in_reply_to=letter.in_reply_to,
                        references=[])
    return build_message(mail).as_bytes()


def queue_email(session: Session, *, key: str, to: list[str], subject: str, text: str,
                html: str | None, purpose: str, settings: Settings) -> OutboxItem:
    """Queue a mail that is not a letter (staff alerts); same outbox, same worker."""
    existing = _existing(session, key)
    if existing is not None:
        return existing
    message_id = new_message_id(domain_of(settings.letters_from), purpose)
    mail = Outgoing(from_address=settings.letters_from, to=list(to), subject=subject,
                    text=text, html=html, message_id=message_id, auto_reply=False)
    msg = build_message(mail)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 section 5: not a reply
    item = OutboxItem(idempotency_key=key, purpose=purpose[:32],
                      envelope_from=settings.letters_from, recipients=list(to),
                      raw=msg.as_bytes(), message_id=message_id, status=PENDING,
                      next_attempt_at=_now())
    return _add_once(session, item)


def _now() -> datetime:
    return datetime.now(UTC)


def _fail_letter(letter: Letter | None, reason: str, flag: str = FLAG_FAILED) -> None:
    if letter is None:
        return
    letter.status = FAILED
    letter.hold_reason = reason[:500]
    case = letter.case
    if case is not None and flag not in (case.flags or []):
        case.flags = [*(case.flags or []), flag]


class OutboxWorker:
    """Sends due outbox items through the relay; safe to run in several processes."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        """Send what is due, then wait for the next poll, until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.send_due()
            except SQLAlchemyError as exc:
                log.error("outbox: database error %s", type(exc).__name__)
            except Exception:  # noqa: BLE001 - the worker outlives one bad pass
                log.exception("outbox pass failed; retrying on the next poll")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)
            except TimeoutError:
                pass

    async def send_due(self) -> int:
        """One pass: claim what is due, hand it to the relay; return how many were sent."""
        await asyncio.to_thread(self._settle_interrupted)
        ids = await asyncio.to_thread(self._claim_due)
        if not ids:
            return 0
        try:
            relay = await self._connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("outbox: relay unavailable (%s); %d item(s) wait",
                        type(exc).__name__, len(ids))
            await asyncio.to_thread(self._retry_all, ids, f"relay unavailable: "
                                    f"{type(exc).__name__}")
            return 0
        try:
            return await self._send_each(relay, ids)
        finally:
            try:
                await relay.quit()
            except (aiosmtplib.SMTPException, OSError):
                relay.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        relay = aiosmtplib.SMTP(hostname=self.settings.relay_host, port=self.settings.relay_port,
                                timeout=RELAY_TIMEOUT, start_tls=self.settings.relay_starttls)
        await relay.connect()
        return relay

    async def _send_each(self, relay: aiosmtplib.SMTP, ids: list[int]) -> int:
        sent = 0
        for position, item_id in enumerate(ids):
            item = await asyncio.to_thread(self._load, item_id)
            if item is None:
                continue
            try:
                await self._transfer(relay, item)
            except aiosmtplib.SMTPResponseException as exc:
                await asyncio.to_thread(self._after_refusal, item_id, exc.code, exc.message)
                await _reset(relay)
                continue
            except (aiosmtplib.SMTPException, OSError) as exc:
                reason = f"relay connection lost: {type(exc).__name__}"
                await asyncio.to_thread(self._retry_all, ids[position:], reason)
                return sent
            await asyncio.to_thread(self._mark_sent, item_id)
            sent += 1
        return sent

    async def _transfer(self, relay: aiosmtplib.SMTP, item: OutboxItem) -> None:
        """MAIL, RCPT, then mark ``delivering`` just before the body goes over."""
        await relay.mail(item.envelope_from)  # "" is the null reverse-path <>
        for recipient in item.recipients:
            await relay.rcpt(recipient)  # a refusal raises SMTPRecipientRefused
        await asyncio.to_thread(self._set_status, item.id, DELIVERING)
        await relay.data(item.raw)

    # --- database side (run in a thread) ------------------------------------------

    def _claim_due(self) -> list[int]:
        now = _now()
        with self.store.session() as session:
            query = (select(OutboxItem.id)
                     .where(OutboxItem.status == PENDING, OutboxItem.next_attempt_at <= now)
                     .order_by(OutboxItem.id).limit(BATCH))
            if self.store.is_postgres:
                query = query.with_for_update(skip_locked=True)
            candidates = list(session.execute(query).scalars())
            claimed = []
            for item_id in candidates:
                result = session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item_id, OutboxItem.status == PENDING)
                    .values(status=SENDING, next_attempt_at=now + LEASE)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(item_id)
            return claimed

    def _settle_interrupted(self) -> None:
        """Items a dead process left behind: retry ``sending``, flag ``delivering``."""
        now = _now()
        with self.store.session() as session:
            stale = session.execute(
                select(OutboxItem).where(OutboxItem.status.in_((SENDING, DELIVERING)),
                                         OutboxItem.next_attempt_at <= now)
            ).scalars().all()
            for item in stale:
                if item.status == SENDING:
                    item.status, item.next_attempt_at = PENDING, now
                    log.warning("outbox item %s: claim expired; will retry", item.id)
                    continue
                item.status = FAILED
                item.last_error = "interrupted while the relay took the body: it may " \
                                  "have been delivered; not resent"
                _fail_letter(_letter(session, item), item.last_error, FLAG_UNKNOWN)
                log.error("outbox item %s: delivery state unknown after a crash", item.id)

    def _load(self, item_id: int) -> OutboxItem | None:
        """The claimed item, its letter's mail built and stored first if it was queued
        without one; None if it is no longer ours or its mail cannot be built."""
        with self.store.session() as session:
            item = session.get(OutboxItem, item_id)
            if item is None or item.status != SENDING:
                return None
            if not item.raw:
                letter = _letter(session, item)
                if letter is None:
                    item.status, item.last_error = FAILED, "queued without a message"
                    return None
                try:
                    item.raw = letter_raw(letter, item, self.settings)
                except InputError as exc:
                    item.status, item.last_error = FAILED, exc.reason
                    _fail_letter(letter, exc.reason)
                    log.error("outbox item %s: mail cannot be built", item.id)
                    return None
                session.flush()
            session.expunge(item)
            return item

    def _set_status(self, item_id: int, status: str) -> None:
        with self.store.session() as session:
            session.execute(update(OutboxItem).where(OutboxItem.id == item_id)
                            .values(status=status, next_attempt_at=_now() + LEASE))

    def _mark_sent(self, item_id: int) -> None:
        with self.store.session() as session:
            item = session.get(OutboxItem, item_id)
            assert item is not None
            item.status, item.sent_at, item.attempts = SENT, _now(), item.attempts + 1
            item.last_error = None
            letter = _letter(session, item)
            if letter is not None and letter.status != "bounced":
                letter.status, letter.sent_at = SENT, item.sent_at
                log.info("letter %s of %s sent", letter.id, letter.case.reference)

    def _after_refusal(self, item_id: int, code: int, message: str) -> None:
        """5xx: the relay will never take it. 4xx: try again later."""
        reason = f"relay answered {code}: {' '.join(message.split())[:200]}"
        if code >= 500:
            with self.store.session() as session:
                item = session.get(OutboxItem, item_id)
                assert item is not None
                item.status, item.last_error, item.attempts = FAILED, reason, item.attempts + 1
                _fail_letter(_letter(session, item), reason)
            log.error("outbox item %s refused permanently (%s)", item_id, code)
            return
        self._retry_all([item_id], reason)

    def _retry_all(self, ids: Iterable[int], reason: str) -> None:
        with self.store.session() as session:
            for item_id in ids:
                item = session.get(OutboxItem, item_id)
                if item is None or item.status not in (SENDING, DELIVERING):
                    continue
                self._schedule_retry(session, item, reason)

    def _schedule_retry(self, session: Session, item: OutboxItem, reason: str) -> None:
        item.attempts += 1
        item.last_error = reason
        if item.attempts >= self.settings.outbox_max_attempts:
            item.status = FAILED
            _fail_letter(_letter(session, item), f"gave up after {item.attempts} attempts")
            log.error("outbox item %s failed after %d attempts", item.id, item.attempts)
            return
        delay = timedelta(seconds=self.settings.outbox_backoff_seconds) * 2 ** (item.attempts - 1)
        item.status, item.next_attempt_at = PENDING, _now() + min(delay, MAX_BACKOFF)


def _letter(session: Session, item: OutboxItem) -> Letter | None:
    return session.get(Letter, item.letter_id) if item.letter_id is not None else None


async def _reset(relay: aiosmtplib.SMTP) -> None:
    try:
        await relay.rset()
    except (aiosmtplib.SMTPException, OSError):
        pass
