"""The whole email path: SMTP in, pipeline, outbox, relay out, with real peers on loopback."""

from __future__ import annotations

import re
import smtplib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.cases.db import Store
from intake.cases.models import Case, CaseLink, Letter, Message
from intake.email.outbox import OutboxWorker
from intake.email.server import SmtpIntake
from intake.pipeline import process_pending
from intake.settings import Settings, override_settings
from tests.support import CaptureHandler

EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
pytestmark = pytest.mark.timeout(120)

COMPLAINT = (EML / "complaint_plain.eml").read_bytes()
AUTHOR = "s.patel@example-school.org.uk"


def send(server: SmtpIntake, raw: bytes, sender: str = AUTHOR) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as smtp:
        assert smtp.sendmail(sender, ["enquiries@localhost"], raw) == {}


def envelope_sender(raw: bytes) -> str:
    match = re.search(rb"^Return-Path:\s*<([^>]*)>", raw, re.M | re.I)
    return match.group(1).decode() if match else "someone@example.org"


def messages(store: Store) -> list[Message]:
    with store.session() as session:
        return list(session.execute(select(Message).order_by(Message.id)).scalars())


def letters(store: Store) -> list[Letter]:
    with store.session() as session:
        return list(session.execute(select(Letter).order_by(Letter.id)).scalars())


async def deliver(store: Store, settings: Settings) -> None:
    process_pending(store, limit=200, settings=settings)
    await OutboxWorker(store, settings).send_due()


async def test_fixture_folder_end_to_end(intake: tuple[SmtpIntake, list[int]],
                                         sqlite_store: Store, mail_settings: Settings,
                                         capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    handler, _ = capture
    files = sorted(EML.glob("*.eml"))
    for path in files:
        raw = path.read_bytes()
        send(server, raw, envelope_sender(raw))
    await deliver(sqlite_store, mail_settings)
    rows = messages(sqlite_store)
    counts = Counter(m.disposition for m in rows)
    print("end-to-end dispositions:", dict(sorted(counts.items())))
    assert len(rows) == len(files)  # every delivery is accounted for
    assert counts["bounce"] == 7 and counts["autoreply"] == 5 and counts["list"] == 4
    assert counts["spam"] == 4 and counts["quarantined"] == 1
    people = [m for m in rows if m.disposition == "new_case"]
    assert len(people) == 19
    machines = {m.sender for m in rows if m.disposition != "new_case"}
    sent_to = [r for mail in handler.received for r in mail.rcpt_tos]
    assert len(sent_to) == len(people) and not machines & set(sent_to)
    for mail in handler.received:  # each answers its own message, with the reference
        msg = mail.message
        original = msg["In-Reply-To"].strip().strip("<>")
        row = next((m for m in people if m.external_id == original), None)
        assert row is not None, (original, msg["To"])
        with sqlite_store.session() as session:
            reference = session.get(Case, row.case_id).reference
        assert reference in msg["Subject"]


async def test_forwarded_complaint_records_author_and_forwarder(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    handler, _ = capture
    raw = (EML / "complaint_gmail_forward.eml").read_bytes()
    send(server, raw, "caseworker.mp.office@gmail.com")
    await deliver(sqlite_store, mail_settings)
    with sqlite_store.session() as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.complainant.email == "robert.lyle@example.org"  # who wrote it
        assert "caseworker.mp.office@gmail.com" in case.fields["forwarded_by"]  # who sent it
    assert [m.rcpt_tos for m in handler.received] == [["caseworker.mp.office@gmail.com"]]


async def test_duplicate_delivery_makes_no_second_case_or_letter(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    handler, _ = capture
    send(server, COMPLAINT)
    send(server, COMPLAINT)
    await deliver(sqlite_store, mail_settings)
    first, second = messages(sqlite_store)
    assert (first.disposition, second.disposition) == ("new_case", "duplicate")
    assert second.case_id == first.case_id
    assert len(letters(sqlite_store)) == 1 and len(handler.received) == 1


async def test_reply_to_our_letter_joins_the_case_without_a_second_letter(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    handler, _ = capture
    send(server, COMPLAINT)
    await deliver(sqlite_store, mail_settings)
    ack = handler.received[0].message
    reply = (f"From: Sarah Patel <{AUTHOR}>\r\nTo: enquiries@localhost\r\n"
             f"Subject: Re: {ack['Subject'].strip()}\r\n"
             "Message-ID: <reply-1@example-school.org.uk>\r\n"
             f"In-Reply-To: {ack['Message-ID']}\r\nReferences: {ack['Message-ID']}\r\n\r\n"
             "Here are the inspection dates you asked for.\r\n").encode()
    send(server, reply)
    await deliver(sqlite_store, mail_settings)
    first, second = messages(sqlite_store)
    assert second.disposition == "reply" and second.case_id == first.case_id
    assert len(handler.received) == 1


async def test_subject_reference_from_a_stranger_opens_a_linked_case(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store, mail_settings: Settings,
        capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    send(server, COMPLAINT)
    await deliver(sqlite_store, mail_settings)
    with sqlite_store.session() as session:
        reference = session.execute(select(Case.reference)).scalar_one()
    stranger = (f"From: someone@else.example.org\r\nTo: enquiries@localhost\r\n"
                f"Subject: About {reference}\r\nMessage-ID: <s-1@else.example.org>\r\n\r\n"
                "I also want to complain about this inspection.\r\n").encode()
    send(server, stranger, "someone@else.example.org")
    await deliver(sqlite_store, mail_settings)
    first, second = messages(sqlite_store)
    assert second.disposition == "new_case" and second.case_id != first.case_id
    with sqlite_store.session() as session:
        case = session.get(Case, second.case_id)
        assert case is not None
        link = session.execute(select(CaseLink).where(CaseLink.case_id == case.id)).scalar_one()
        assert link.other_case_id == first.case_id and link.kind == "proposed"


async def test_reply_limit_stops_a_mail_loop(intake: tuple[SmtpIntake, list[int]],
                                             sqlite_store: Store, mail_settings: Settings,
                                             capture: tuple[CaptureHandler, int]) -> None:
    server, _ = intake
    handler, _ = capture
    with override_settings(**{**mail_settings.model_dump(),
                              "max_replies_per_sender_per_day": 2}) as limited:
        for i in range(4):  # another robot answering each letter with a new message
            raw = COMPLAINT.replace(b"<CAHeadteacher0001@", f"<loop-{i}@".encode())
            send(server, raw)
            await deliver(sqlite_store, limited)
    assert len(handler.received) == 2
    statuses = Counter(letter.status for letter in letters(sqlite_store))
    assert statuses == {"sent": 2, "held": 2}
