"""Public test mail from mail libraries' own suites, through the parser and the whole path.

The corpus (tests/fixtures/corpus, origins in its SOURCES.md) is real-world mail that other
projects collected to break their parsers: DSNs from a dozen MTAs, vacation replies, spam,
broken MIME, odd charsets, signed mail, mbox extracts. Two properties are checked:

- the parser reads every file that starts with header fields (an mbox ``From `` line
  before them included), and refuses anything else with ``InputError`` (quarantine),
  never another exception and never its catch-all fallback, which would hide a bug;
- in one run over every file, the real SMTP intake stores each message (or refuses it
  with ``552`` when it is over the size limit), the pipeline settles every stored message
  to a final disposition, and machine mail (bounces, auto-replies, lists, spam) gets no
  letter.
"""

from __future__ import annotations

import re
import smtplib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.cases.db import Store
from intake.cases.models import (
    AUTOREPLY,
    BOUNCE,
    FAILED,
    LIST,
    NEW_CASE,
    PENDING,
    QUARANTINED,
    SPAM,
    Letter,
    Message,
)
from intake.email.parse import parse_email
from intake.email.screen import screen
from intake.email.server import SmtpIntake
from intake.errors import InputError
from intake.pipeline import process_pending
from intake.records import ParsedMessage
from intake.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
FILES = sorted(CORPUS.rglob("*.eml"))
MACHINE_MAIL = (BOUNCE, AUTOREPLY, LIST, SPAM)
FALLBACK = "the MIME structure cannot be read"  # parse_email's catch-all, hiding a crash
HEADER_FIELD = re.compile(rb"^[!-9;-~]+:")  # RFC 5322 section 2.2 field name and colon
RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([\x21-\x7e]*)>", re.M | re.I)
FALLBACK_SENDER = "corpus-sender@example.org"


def _name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


def starts_with_headers(raw: bytes) -> bool:
    """True when the first line is a header field, after any mbox ``From `` separator."""
    head = raw.lstrip()
    if head.startswith(b"From "):
        head = head.split(b"\n", 1)[-1]
    return bool(HEADER_FIELD.match(head))


def envelope_sender(raw: bytes) -> str:
    """The envelope sender an MTA would have used: Return-Path, null for a bounce."""
    match = RETURN_PATH.search(raw.split(b"\n\n", 1)[0])
    if match is None:
        return FALLBACK_SENDER
    return match.group(1).decode("ascii")


def test_corpus_is_large_and_varied() -> None:
    origins = Counter(path.relative_to(CORPUS).parts[0] for path in FILES)
    assert len(FILES) >= 150 and len(origins) >= 5, origins
    for origin in origins:
        assert (CORPUS / origin / "LICENSE").is_file(), origin
        assert f"`{origin}/`" in (CORPUS / "SOURCES.md").read_text(encoding="utf-8"), origin


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_parser_reads_mail_and_refuses_the_rest_with_input_error(path: Path) -> None:
    raw = path.read_bytes()
    try:
        parsed = parse_email(raw)
    except InputError as exc:
        assert not str(exc).startswith(FALLBACK), f"parser crashed inside: {exc}"
        assert not starts_with_headers(raw), f"mail quarantined: {exc}"
        return
    assert isinstance(parsed, ParsedMessage)
    assert starts_with_headers(raw), "bytes that are not mail were read as mail"


def test_bounce_with_a_mailer_daemon_envelope_sender_is_screened(settings: Settings) -> None:
    # Envelope MAILER-DAEMON@..., From: a virus scanner; answered with a letter today.
    raw = (CORPUS / "flufl.bounce" / "simple_15.eml").read_bytes()
    found = screen(parse_email(raw), envelope_sender(raw), settings)
    assert envelope_sender(raw).startswith("MAILER-DAEMON@")
    assert found is not None and found.disposition == BOUNCE


def test_delivery_failure_from_a_gateway_address_is_screened(settings: Settings) -> None:
    # From and envelope sender Symantec_AntiVirus_for_SMTP_Gateways@..., subject
    # "Delivery failure notification": answered with a letter today.
    raw = (CORPUS / "flufl.bounce" / "simple_22.eml").read_bytes()
    parsed = parse_email(raw)
    assert parsed.subject == "Delivery failure notification"
    found = screen(parsed, envelope_sender(raw), settings)
    assert found is not None and found.disposition == BOUNCE


@pytest.mark.parametrize("name", ["msg_04.eml", "msg_44.eml"])
def test_inline_text_part_with_a_file_name_is_body_text(name: str) -> None:
    # msg_04: Content-Disposition: inline; filename="msg.txt".
    # msg_44: Content-Type: text/plain; name="msg.txt", no Content-Disposition.
    parsed = parse_email((CORPUS / "cpython" / name).read_bytes())
    assert "a simple kind of mirror" in parsed.text


def test_utf8_body_declared_as_gb2312_is_read_as_utf8() -> None:
    # Content-Type: text/plain;charset="GB2312", but the bytes are UTF-8 Chinese.
    parsed = parse_email((CORPUS / "mail-parser" / "mail_test_12.eml").read_bytes())
    assert parsed.text.startswith("\u4f60\u597d")  # the greeting, not mojibake
    assert "\ufffd" not in parsed.text


def _send_all(server: SmtpIntake, limit: int) -> tuple[list[Path], list[Path]]:
    """Send every file on one connection; return (accepted, refused as too big)."""
    accepted, refused = [], []
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        for path in FILES:
            raw = path.read_bytes()
            try:
                smtp.sendmail(envelope_sender(raw), ["enquiries@localhost"], raw)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                assert exc.smtp_code == 552 and len(raw) > limit, (_name(path), exc)
                refused.append(path)
                smtp.rset()
                continue
            accepted.append(path)
    return accepted, refused


def _settle(store: Store, settings: Settings) -> list[Message]:
    """Run the pipeline until nothing is due; return every stored message."""
    while process_pending(store, limit=100, settings=settings):
        pass
    with store.session() as session:
        return list(session.execute(select(Message).order_by(Message.id)).scalars())


def _lettered_case_ids(store: Store) -> set[int]:
    """Cases that have a letter of any kind or status (held, queued, sent...)."""
    with store.session() as session:
        return set(session.execute(select(Letter.case_id)).scalars())


@pytest.mark.timeout(120)
def test_every_corpus_message_is_stored_settled_and_machine_mail_unanswered(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store,
        mail_settings: Settings) -> None:
    server, stored_ids = intake
    accepted, refused = _send_all(server, mail_settings.max_message_bytes)
    too_big = [p for p in FILES if len(p.read_bytes()) > mail_settings.max_message_bytes]
    assert refused == too_big and len(accepted) + len(refused) == len(FILES)
    rows = _settle(sqlite_store, mail_settings)
    counts = Counter(row.disposition for row in rows)
    print(f"corpus: {len(accepted)} stored, {len(refused)} refused with 552;",
          dict(sorted(counts.items())))
    assert len(rows) == len(accepted) == len(stored_ids)
    unsettled = [(row.external_id, row.disposition, row.reason) for row in rows
                 if row.disposition in (PENDING, FAILED)]
    assert not unsettled
    not_mail = [p for p in accepted if not starts_with_headers(p.read_bytes())]
    assert counts[QUARANTINED] == len(not_mail)  # only bytes that are not mail at all
    machine = [row for row in rows if row.disposition in MACHINE_MAIL]
    assert counts[BOUNCE] >= 50 and counts[SPAM] + counts[LIST] + counts[AUTOREPLY] > 0
    answered = _lettered_case_ids(sqlite_store)
    assert not [row.external_id for row in machine if row.case_id in answered]
    assert answered <= {row.case_id for row in rows if row.disposition == NEW_CASE}


def test_delivery_delay_warning_is_screened_as_a_bounce(settings: Settings) -> None:
    # Exchange "Mail Delivery Warning" (mailbox full, will retry) from a postmaster.
    raw = (CORPUS / "flufl.bounce" / "simple_35.eml").read_bytes()
    found = screen(parse_email(raw), envelope_sender(raw), settings)
    assert found is not None and found.disposition == BOUNCE


def test_list_server_notice_is_list_mail(settings: Settings) -> None:
    # fml's "Loop Alert" to the list admin: X-MLServer, no List-Id, no Precedence.
    raw = (CORPUS / "sisimai" / "email-fml-01.eml").read_bytes()
    found = screen(parse_email(raw), envelope_sender(raw), settings)
    assert found is not None and found.disposition == LIST


def test_person_forwarding_a_message_as_attachment_is_not_machine_mail(
        settings: Settings) -> None:
    raw = (CORPUS / "sisimai" / "is-not-bounce-02.eml").read_bytes()
    assert screen(parse_email(raw), envelope_sender(raw), settings) is None


def test_gbk_text_labelled_gb2312_is_read_whole() -> None:
    # Subject and body say gb2312 but hold a GBK-only character (屄); no U+FFFD left.
    parsed = parse_email((CORPUS / "mail-parser" / "mail_test_9.eml").read_bytes())
    assert parsed.subject is not None and "\ufffd" not in parsed.subject
    assert "这种场合" in parsed.subject and "\ufffd" not in parsed.text


def test_raw_8bit_subject_is_read_in_the_charset_of_the_text() -> None:
    # sina.com bounce: Subject in raw GB2312 bytes, body declared gb2312.
    parsed = parse_email((CORPUS / "flufl.bounce" / "sina_01.eml").read_bytes())
    assert parsed.subject == "邮件传输失败！"


def test_raw_8bit_subject_beside_latin_text_is_not_guessed() -> None:
    # CP1251 bytes in Subject, body declared iso-8859-1: Latin would be mojibake.
    name = "message_with_single_byte_extended_subject_encoding.eml"
    parsed = parse_email((CORPUS / "django-mailbox" / name).read_bytes())
    assert parsed.subject is not None and "Ó" not in parsed.subject
