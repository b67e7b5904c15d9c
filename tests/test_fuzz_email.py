"""Bad mail at volume (hypothesis): random MIME trees, header values, charsets and
transfer encodings, written as raw bytes so they can be as broken as real mail is.

Properties:
- the parser never raises on anything that starts with header fields, and never falls
  back to quarantine for it (the fallback hides bugs: real mail must be read);
- bytes that are not mail at all are refused with ``InputError`` (quarantine), nothing else;
- every message the SMTP handler answers ``250`` is stored byte for byte, and the pipeline
  then gives it a final disposition (never ``failed``, which would mean a bug of ours).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import quopri
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from intake.cases.db import Store
from intake.cases.models import FAILED, PENDING, Message
from intake.email.parse import parse_email
from intake.email.server import STORED, IntakeHandler
from intake.errors import InputError
from intake.pipeline import process_message
from intake.records import ParsedMessage
from intake.settings import Settings, override_settings

CHARSETS = ("utf-8", "us-ascii", "iso-8859-1", "windows-1252", "koi8-r", "big5", "shift_jis",
            "utf-16", "gb2312", "x-unknown", "utf8", "", "latin-1", "ISO-2022-JP", "bogus\"")
ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "BASE64 ",
             "")
LEAF_TYPES = ("text/plain", "text/html", "application/pdf", "image/jpeg", "message/rfc822",
              "text/calendar", "application/octet-stream", "text/x-garbage", "text", "/",
              "message/delivery-status", "text/rfc822-headers")
MULTI_TYPES = ("multipart/mixed", "multipart/alternative", "multipart/related",
               "multipart/report", "multipart/signed", "multipart/weird")
HEADER_NAMES = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
                "References", "Auto-Submitted", "Precedence", "List-Id", "X-Spam-Flag",
                "Authentication-Results", "Content-Disposition", "Return-Path",
                "Disposition-Notification-To", "X-Autoreply", "Sender")

text_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    charset = draw(st.sampled_from(CHARSETS)) or "utf-8"
    words = draw(text_values)
    if draw(st.booleans()):
        payload = base64.b64encode(words.encode("utf-8", "replace")).decode()
        return f"=?{charset}?B?{payload}?="
    return f"=?{charset}?Q?{quopri.encodestring(words.encode('utf-8', 'replace')).decode()}?="


header_value = st.one_of(
    text_values, encoded_word(),
    st.sampled_from(["", " ", "<>", "<@>", "undisclosed-recipients:;", "a@b", "@", "<<x@y>>",
                     "\"Jo, Head\" <jo@school.example>", "jo@school.example (Jo)",
                     "=?utf-8?B?not base64?=", "auto-replied", "bulk", "yes",
                     "dmarc=fail header.from=x.example", "Mon, 32 Foo 2026 99:99:99 +9999"]),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    body_text = draw(st.one_of(text_values, st.just("Dear Ofsted, I wish to complain about "
                                                    "the inspection of our school (URN 123456).")))
    data = body_text.encode(charset if _known(charset) else "utf-8", "replace")
    if draw(st.booleans()):
        data = draw(st.binary(max_size=200))
    if cte.strip().lower() == "base64" and draw(st.booleans()):
        data = base64.encodebytes(data)
    elif cte == "quoted-printable" and draw(st.booleans()):
        data = quopri.encodestring(data)
    head = [f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")]
    if cte:
        head.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        name = draw(st.sampled_from(["evidence.pdf", "", "=?utf-8?B?w6k=?=.txt", "a\"b.doc",
                                     "../../etc/passwd", "x" * 300]))
        head.append(f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline']))};"
                    f" filename=\"{name}\"")
    return "\r\n".join(head).encode("utf-8", "replace") + b"\r\n\r\n" + data


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
        return True
    except (LookupError, ValueError):
        return False


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        ctype = draw(st.sampled_from(MULTI_TYPES))
        boundary = draw(st.sampled_from(["b1", "=_Part_1", "x" * 70, "sp ace", ""]))
        parts = draw(st.lists(children, max_size=4))
        used = boundary if draw(st.integers(0, 9)) else "mismatch"  # sometimes broken
        head = f"Content-Type: {ctype}" + (f'; boundary="{boundary}"' if boundary else "")
        body = b"".join(b"--" + used.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        if draw(st.booleans()):  # the closing delimiter is often missing in real mail
            body += b"--" + used.encode() + b"--\r\n"
        return head.encode() + b"\r\n\r\n" + body
    return build()


mime_tree = st.recursive(leaf(), multipart, max_leaves=8)


@st.composite
def email_bytes(draw: st.DrawFn) -> bytes:
    headers = [("From", draw(st.one_of(header_value, st.just("Jo <jo@school.example>"))))]
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=8)):
        headers.append((name, draw(header_value)))
    lines = []
    for name, value in headers:
        value = value.replace("\r", " ").replace("\n", " ")
        lines.append(f"{name}: {value}".encode("utf-8", "surrogateescape"))
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    return sep.join(lines) + sep + b"MIME-Version: 1.0" + sep + draw(mime_tree)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=1000, deadline=None)
@given(raw=email_bytes())
def test_parser_reads_every_message_that_starts_with_headers(raw: bytes) -> None:
    seen = _Records()
    logger = logging.getLogger("intake.email.parse")
    logger.addHandler(seen)
    try:
        parsed = parse_email(raw)
    finally:
        logger.removeHandler(seen)
    assert isinstance(parsed, ParsedMessage)
    assert isinstance(parsed.text, str)
    fallback = [r for r in seen.records if "unreadable" in r.getMessage()]
    assert not fallback, f"the parser fell back to quarantine: {fallback[0].exc_info}"


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300))
def test_bytes_that_are_not_mail_only_ever_raise_input_error(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except InputError as exc:
        assert exc.reason
        return
    assert isinstance(parsed, ParsedMessage)


@pytest.fixture
def fuzz_settings(settings: Settings) -> Iterator[Settings]:
    with override_settings(database_url=settings.database_url,
                           mailboxes=["enquiries@example.org"]) as s:
        yield s


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.one_of(email_bytes(), st.binary(max_size=200)),
       sender=st.sampled_from(["", "jo@school.example", "MAILER-DAEMON@x.example"]))
def test_every_250_is_stored_and_reaches_a_final_disposition(
        sqlite_store: Store, fuzz_settings: Settings, raw: bytes, sender: str) -> None:
    stored: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        handler = IntakeHandler(sqlite_store, fuzz_settings, stored.append, pool)
        envelope = SimpleNamespace(original_content=raw, mail_from=sender,
                                   rcpt_tos=["enquiries@example.org"])
        reply = asyncio.run(handler.handle_DATA(None, None, envelope))  # type: ignore[arg-type]
    assert reply == STORED
    [message_id] = stored
    outcome = process_message(sqlite_store, message_id, fuzz_settings)
    with sqlite_store.session() as session:
        msg = session.get(Message, message_id)
        assert msg is not None and msg.raw == raw  # byte for byte
        assert msg.disposition not in (PENDING, FAILED), msg.reason
        event(f"disposition {msg.disposition}")  # --hypothesis-show-statistics
    assert outcome is not None and outcome.disposition == msg.disposition

