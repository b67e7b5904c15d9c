"""The outbox: letters go through a real relay once, with RFC 3834 headers, and survive
a relay outage and a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from intake.cases.db import Store
from intake.cases.models import Case, Letter, OutboxItem
from intake.email.outbox import OutboxWorker, queue_email, queue_letter_email
from intake.settings import Settings, override_settings
from tests.email.conftest import make_case
from tests.support import CaptureHandler, free_port

pytestmark = pytest.mark.timeout(60)
REF = "CMP-2025-00017"


def add_letter(session, subject: str = "We have received your complaint",  # noqa: ANN001
               reference: str = REF) -> tuple[Letter, Case]:
    case = make_case(session, reference=reference)
    letter = Letter(kind="acknowledgement", status="queued", subject=subject,
                    body_text="Dear Ms Patel,\n\nThank you.", body_html="<p>Dear Ms Patel,</p>",
                    recipient="s.patel@example-school.org.uk")
    case.letters.append(letter)
    session.flush()
    return letter, case


def queue(store: Store, settings: Settings, *, to: str = "s.patel@example-school.org.uk",
          subject: str = "We have received your complaint", in_reply_to: str | None = "orig@x.org",
          references: list[str] | None = None) -> int:
    with store.session() as session:
        letter, case = add_letter(session, subject)
        queue_letter_email(session, letter, case, to=to, in_reply_to=in_reply_to,
                           references=references or ["first@x.org"], settings=settings)
        return letter.id


def item_for(store: Store, letter_id: int) -> OutboxItem:
    with store.session() as session:
        return session.execute(select(OutboxItem).where(OutboxItem.letter_id == letter_id)
                               ).scalar_one()


def letter_row(store: Store, letter_id: int) -> Letter:
    with store.session() as session:
        letter = session.get(Letter, letter_id)
        assert letter is not None
        _ = letter.case.flags
        return letter


async def test_letter_is_sent_once_with_rfc3834_headers(
        store: Store, mail_settings: Settings, capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    letter_id = queue(store, mail_settings)
    worker = OutboxWorker(store, mail_settings)
    assert await worker.send_due() == 1
    (mail,) = handler.received
    assert mail.mail_from == "<>"  # null reverse-path: nobody bounces or answers a letter
    assert mail.rcpt_tos == ["s.patel@example-school.org.uk"]
    msg = mail.message
    letter = letter_row(store, letter_id)
    assert msg["Message-ID"] == f"<{letter.message_id}>" and REF in letter.message_id
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<orig@x.org>"
    assert msg["References"] == "<first@x.org> <orig@x.org>"
    assert msg["Subject"] == f"We have received your complaint [{REF}]"
    assert msg["From"] == "enquiries@localhost"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert letter.status == "sent" and letter.sent_at is not None
    # a restart (a new worker, a new connection pool) finds nothing to send
    again = OutboxWorker(Store(store.url), mail_settings)
    assert await again.send_due() == 0 and len(handler.received) == 1


def test_queueing_the_same_letter_twice_is_one_item(store: Store,
                                                    mail_settings: Settings) -> None:
    with store.session() as session:
        letter, case = add_letter(session)
        first = queue_letter_email(session, letter, case, to="a@example.org", in_reply_to=None,
                                   references=[], settings=mail_settings)
        second = queue_letter_email(session, letter, case, to="a@example.org",
                                    in_reply_to=None, references=[], settings=mail_settings)
        assert first.id == second.id and first.idempotency_key == f"letter:{letter.id}"
        assert session.query(OutboxItem).count() == 1


async def test_relay_down_delays_and_loses_nothing(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    letter_id = queue(sqlite_store, mail_settings)
    with override_settings(**{**mail_settings.model_dump(), "relay_port": free_port()}) as down:
        for _ in range(2):
            assert await OutboxWorker(sqlite_store, down).send_due() == 0
            item = item_for(sqlite_store, letter_id)
            assert item.status == "pending" and "relay unavailable" in item.last_error
            await asyncio.sleep(0.25)  # past the backoff
    item = item_for(sqlite_store, letter_id)
    assert item.attempts == 2
    assert item.next_attempt_at - datetime.now(UTC) < timedelta(seconds=1)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 1
    assert len(handler.received) == 1 and letter_row(sqlite_store, letter_id).status == "sent"


async def test_backoff_doubles(sqlite_store: Store, mail_settings: Settings) -> None:
    letter_id = queue(sqlite_store, mail_settings)
    with override_settings(**{**mail_settings.model_dump(), "relay_port": free_port(),
                              "outbox_backoff_seconds": 60}) as down:
        worker = OutboxWorker(sqlite_store, down)
        await worker.send_due()
        first = item_for(sqlite_store, letter_id).next_attempt_at - datetime.now(UTC)
        with sqlite_store.session() as session:  # make it due again at once
            session.get(OutboxItem, item_for(sqlite_store, letter_id).id).next_attempt_at = \
                datetime.now(UTC)
        await worker.send_due()
        second = item_for(sqlite_store, letter_id).next_attempt_at - datetime.now(UTC)
    assert timedelta(seconds=55) < first <= timedelta(seconds=60)
    assert timedelta(seconds=115) < second <= timedelta(seconds=120)


async def test_permanent_refusal_fails_the_letter_and_flags_the_case(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    handler.refuse_with = "554 5.7.1 Rejected by policy"
    letter_id = queue(sqlite_store, mail_settings)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 0
    item = item_for(sqlite_store, letter_id)
    letter = letter_row(sqlite_store, letter_id)
    assert item.status == "failed" and "554" in item.last_error
    assert letter.status == "failed" and "letter_failed" in letter.case.flags


async def test_temporary_refusal_is_retried(sqlite_store: Store, mail_settings: Settings,
                                            capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    handler.refuse_with = "451 4.3.0 Try later"
    letter_id = queue(sqlite_store, mail_settings)
    worker = OutboxWorker(sqlite_store, mail_settings)
    assert await worker.send_due() == 0
    assert item_for(sqlite_store, letter_id).status == "pending"
    handler.refuse_with = None
    await asyncio.sleep(0.1)
    assert await worker.send_due() == 1


async def test_header_injection_from_user_text_is_impossible(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    evil_subject = "Re: complaint\r\nBcc: victim@example.com\r\nX-Injected: yes"
    letter_id = queue(sqlite_store, mail_settings, subject=evil_subject,
                      in_reply_to="x@y.org>\r\nBcc: victim2@example.com",
                      references=["ok@x.org", "bad\r\nCc: victim3@example.com"])
    bad_to = queue_bad_recipient(sqlite_store, mail_settings)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 1
    (mail,) = handler.received
    assert mail.rcpt_tos == ["s.patel@example-school.org.uk"]
    msg = mail.message
    assert msg["Bcc"] is None and msg["Cc"] is None and msg["X-Injected"] is None
    header_lines = mail.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not [h for h in header_lines if h.lower().startswith((b"bcc:", b"cc:", b"x-injected"))]
    words = f"Re: complaint Bcc: victim@example.com X-Injected: yes [{REF}]"
    assert msg["Subject"].strip() == words  # the attempt survives only as words
    assert msg["In-Reply-To"] is None and msg["References"] == "<ok@x.org>"
    assert letter_row(sqlite_store, letter_id).status == "sent"
    assert letter_row(sqlite_store, bad_to).status == "failed"


def queue_bad_recipient(store: Store, settings: Settings) -> int:
    with store.session() as session:
        letter, case = add_letter(session, reference="CMP-2025-00099")
        item = queue_letter_email(session, letter, case,
                                  to="jo@example.org\r\nBcc: victim@example.com",
                                  in_reply_to=None, references=[], settings=settings)
        assert item.status == "failed"
        return letter.id


async def test_crash_before_the_body_is_retried_after_the_lease(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    letter_id = queue(sqlite_store, mail_settings)
    with sqlite_store.session() as session:  # a worker claimed it, then died
        item = session.get(OutboxItem, item_for(sqlite_store, letter_id).id)
        item.status, item.next_attempt_at = "sending", datetime.now(UTC) - timedelta(seconds=1)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 1
    assert len(handler.received) == 1


async def test_crash_while_the_relay_took_the_body_is_never_resent(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    letter_id = queue(sqlite_store, mail_settings)
    with sqlite_store.session() as session:
        item = session.get(OutboxItem, item_for(sqlite_store, letter_id).id)
        item.status, item.next_attempt_at = "delivering", datetime.now(UTC) - timedelta(seconds=1)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 0
    assert handler.received == []
    letter = letter_row(sqlite_store, letter_id)
    assert letter.status == "failed" and "letter_delivery_unknown" in letter.case.flags


async def test_alert_mail_is_auto_generated_and_has_a_return_path(
        sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    with sqlite_store.session() as session:
        for _ in range(2):
            queue_email(session, key="alert:7:1", to=["duty@localhost.example"],
                        subject="Safeguarding concern: CMP-2025-00017", text="Open the case.",
                        html=None, purpose="alert", settings=mail_settings)
    assert await OutboxWorker(sqlite_store, mail_settings).send_due() == 1
    (mail,) = handler.received
    assert mail.mail_from == "enquiries@localhost"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message.get_content_type() == "text/plain"


async def test_run_sends_until_stopped(sqlite_store: Store, mail_settings: Settings,
                                       capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxWorker(sqlite_store, mail_settings).run(stop))
    queue(sqlite_store, mail_settings)
    for _ in range(100):
        if handler.received:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(handler.received) == 1


async def test_two_workers_share_one_outbox_without_sending_twice(
        store: Store, mail_settings: Settings, capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    for i in range(12):
        with store.session() as session:
            letter, case = add_letter(session, reference=f"CMP-2025-{i + 100:05d}")
            queue_letter_email(session, letter, case, to=f"p{i}@example.org", in_reply_to=None,
                               references=[], settings=mail_settings)
    workers = [OutboxWorker(Store(store.url), mail_settings) for _ in range(2)]
    counts = await asyncio.gather(*(w.send_due() for w in workers))
    counts += await asyncio.gather(*(w.send_due() for w in workers))
    assert sum(counts) == 12
    assert sorted(r for mail in handler.received for r in mail.rcpt_tos) == \
        sorted(f"p{i}@example.org" for i in range(12))
    for worker in workers:
        worker.store.dispose()


async def test_a_letter_queued_without_its_mail_is_built_once_with_its_message_id(
        store: Store, mail_settings: Settings, capture: tuple[CaptureHandler, int]) -> None:
    handler, _ = capture
    letter_id = queue(store, mail_settings, references=["orig@x.org"])  # thread = parent
    queued = item_for(store, letter_id)
    letter = letter_row(store, letter_id)
    assert queued.raw == b"" and queued.message_id == letter.message_id
    handler.refuse_with = "451 4.3.0 Try later"
    worker = OutboxWorker(store, mail_settings)
    assert await worker.send_due() == 0
    built = item_for(store, letter_id).raw  # stored at the first attempt
    assert built and item_for(store, letter_id).status == "pending"
    handler.refuse_with = None
    with store.session() as session:  # due again now
        session.get(OutboxItem, queued.id).next_attempt_at = datetime.now(UTC)
    assert await worker.send_due() == 1
    (mail,) = handler.received
    assert mail.raw.replace(b"\r\n", b"\n").rstrip() == built.replace(b"\r\n", b"\n").rstrip()
    msg = mail.message
    assert msg["Message-ID"] == f"<{letter.message_id}>"
    assert msg["In-Reply-To"] == "<orig@x.org>" and msg["References"] == "<orig@x.org>"
    assert msg["Subject"] == f"We have received your complaint [{REF}]"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert letter_row(store, letter_id).status == "sent"


def add_fresh_letter(session, settings: Settings) -> tuple[Letter, Case]:  # noqa: ANN001
    """A letter inserted by this transaction, as the pipeline inserts one: its Message-ID
    set and the outbox told it is new."""
    from intake.email.outbox import fresh_message_id, mark_fresh

    letter, case = add_letter(session)
    letter.message_id = fresh_message_id(case, settings)
    session.flush()
    mark_fresh(session, letter)
    return letter, case


def test_a_fresh_letter_keeps_the_message_id_it_was_inserted_with(
        store: Store, settings: Settings) -> None:
    """A letter inserted by the same transaction: no lookup, its Message-ID stays."""
    with store.session() as session:
        letter, case = add_fresh_letter(session, settings)
        item = queue_letter_email(session, letter, case, to=letter.recipient or "",
                                  in_reply_to=None, references=[], settings=settings)
        assert item.message_id == letter.message_id and REF in item.message_id
        letter_id = letter.id
    assert item_for(store, letter_id).message_id == letter_row(store, letter_id).message_id
    # queued again later (another transaction): the existing item, not a second one
    with store.session() as session:
        letter = session.get(Letter, letter_id)
        assert letter is not None
        again = queue_letter_email(session, letter, letter.case, to=letter.recipient or "",
                                   in_reply_to=None, references=[], settings=settings)
        assert again.id == item.id


def test_a_fresh_letter_to_an_unusable_address_fails_without_a_message_id(
        store: Store, settings: Settings) -> None:
    with store.session() as session:
        letter, case = add_fresh_letter(session, settings)
        queue_letter_email(session, letter, case, to="a@x.org, b@y.org", in_reply_to=None,
                           references=[], settings=settings)
        letter_id = letter.id
    letter = letter_row(store, letter_id)
    assert letter.status == "failed" and letter.message_id is None
    assert item_for(store, letter_id).status == "failed"


def test_a_fresh_letters_item_is_inserted_with_the_pipelines_batch(
        store: Store, settings: Settings) -> None:
    from intake.email.outbox import fresh_message_id, mark_fresh
    from intake.steps.context import Batch

    with store.session() as session:
        batch = Batch.of(session)
        letter, case = add_letter(session)
        letter.message_id = fresh_message_id(case, settings)
        session.flush()
        mark_fresh(session, letter)
        queue_letter_email(session, letter, case, to=letter.recipient or "", in_reply_to=None,
                           references=[], settings=settings)
        assert session.execute(select(OutboxItem)).first() is None  # not yet
        batch.flush(session)
        letter_id = letter.id
    item = item_for(store, letter_id)
    assert item.status == "pending" and item.attempts == 0
    assert item.message_id == letter_row(store, letter_id).message_id
    assert item.idempotency_key == f"letter:{letter_id}"
