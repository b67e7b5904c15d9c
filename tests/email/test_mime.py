"""The letter MIME build: the same bytes as the plain EmailMessage construction it replaced."""

from __future__ import annotations

import random
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from intake.email.mime import (
    AUTO_HEADERS,
    Outgoing,
    _thread_headers,
    build_message,
    header_safe,
    mailbox,
    new_message_id,
)

DATE = "Tue, 03 Nov 2026 09:15:00 GMT"
LETTER = ("We have received your complaint\n===============================\n\n"
          "Your reference number is CMP-2026-00042. We received it on Tuesday 3 November "
          "2026.\n\n- the conduct of an inspector\n- a line with = and =3D and trailing "
          "space \n\nOfsted, Piccadilly Gate, Store Street, Manchester M1 2WD\n")
HTML = ('<!DOCTYPE html>\n<html lang="en"><body><h1 style="font-size: 1.5em">We have '
        "received your complaint</h1>\n<p>Caf\u00e9 &amp; r\u00e9sum\u00e9: "
        "\u201cquoted\u201d \u2014 \U0001f600</p>\n</body></html>\n")


def reference_build(mail: Outgoing, *, date: str) -> EmailMessage:
    """The construction build_message used before: set_content and add_alternative."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = mailbox(mail.from_address)
    msg["To"] = [mailbox(a) for a in mail.to]
    msg["Subject"] = header_safe(mail.subject)
    msg["Date"] = date
    msg["Message-ID"] = f"<{mail.message_id}>"
    _thread_headers(msg, mail)
    if mail.auto_reply:
        for name, value in AUTO_HEADERS:
            msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def both(mail: Outgoing, date: str = DATE) -> tuple[bytes, bytes]:
    """Bytes of the new and the reference build, with the same random boundary."""
    random.seed(7)
    new = build_message(mail, date=date).as_bytes()
    random.seed(7)
    old = reference_build(mail, date=date).as_bytes()
    return new, old


def letter(**changes: object) -> Outgoing:
    fields: dict[str, object] = {
        "from_address": "complaints@ofsted.example", "to": ["head1@school1.example"],
        "subject": "Your complaint: CMP-2026-00042", "text": LETTER, "html": HTML,
        "message_id": "0af3c9d2e4b5a6978812aa01.CMP-2026-00042@ofsted.example",
        "in_reply_to": "CAF=x+y@mail.example", "references": ["a.1@b.example"]}
    fields.update(changes)
    return Outgoing(**fields)  # type: ignore[arg-type]


SUBJECTS = [
    "Your complaint: CMP-2026-00042",
    "Re: your letter (the one about \"Hillside\") <urgent> [CMP-2026-00001]",
    "Sujet: r\u00e9clamation \u2014 \u00e9cole",
    "=?utf-8?q?encoded?= looking subject",
    "a subject long enough that the SMTP policy has to fold it over more than one line "
    "of the header section",
    "tabs\tand  double  spaces\r\nand a line break",
    "",
    "back\\slash, semi;colon: colon @ at",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_are_written_as_before(subject: str) -> None:
    new, old = both(letter(subject=subject))
    assert new == old


@pytest.mark.parametrize("html", [HTML, None, ""])
def test_text_only_and_alternative_letters_are_written_as_before(html: str | None) -> None:
    new, old = both(letter(html=html))
    assert new == old
    parsed = message_from_bytes(new, policy=policy.default)
    assert parsed.get_content_type() == ("multipart/alternative" if html else "text/plain")
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == LETTER


@pytest.mark.parametrize("changes", [
    {"to": ["a@x.example", "b.c+d@y.example"]},
    {"to": ["O'Brien@school.example"]},
    {"from_address": "letters@localhost"},
    {"to": ["x@[192.0.2.1]"]},
    {"in_reply_to": None, "references": []},
    {"references": [f"ref{i}.part@host{i}.example" for i in range(25)]},
    {"in_reply_to": "not an id", "references": ["<bad id>", "ok@id.example"]},
    {"message_id": "odd..id@[domain]"},
    {"message_id": "a" * 60 + "@" + "b" * 20 + ".example"},
    {"auto_reply": False},
    {"text": "", "html": None},
    {"text": "caf\u00e9\r\nline two\rline three\n\n\n", "html": "<p>x</p>"},
    {"text": "x" * 300 + "\n" + "= " * 100},
])
def test_headers_and_bodies_are_written_as_before(changes: dict[str, object]) -> None:
    new, old = both(letter(**changes))
    assert new == old


@pytest.mark.parametrize("date", [DATE, "Tue, 3 Nov 2026 09:15:00 +0100", "not a date"])
def test_dates_are_written_as_before(date: str) -> None:
    new, old = both(letter(), date=date)
    assert new == old


def test_generated_message_id_and_date_take_the_usual_form() -> None:
    mail = letter(message_id="")
    msg = message_from_bytes(build_message(mail).as_bytes(), policy=policy.default)
    assert msg["Message-ID"].endswith("@ofsted.example>")
    assert msg["Date"].datetime is not None
    assert msg["Auto-Submitted"] == "auto-replied"


def test_a_header_can_still_be_added_after_the_build() -> None:
    msg = build_message(letter(auto_reply=False), date=DATE)
    msg["Auto-Submitted"] = "auto-generated"
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed.get_all("Auto-Submitted") == ["auto-generated"]


def test_new_message_ids_take_the_plain_path() -> None:
    mid = new_message_id("ofsted.example", "CMP-2026-00042")
    raw = build_message(letter(message_id=mid), date=DATE).as_bytes()
    assert f"\r\nMessage-ID: <{mid}>\r\n".encode() in raw


def test_decode_bytes_uses_the_superset_of_a_cjk_label_after_utf8() -> None:
    from intake.email.body import decode_bytes

    notes: list[str] = []
    gbk_only = "屄".encode("gbk")  # not in GB2312
    assert decode_bytes(gbk_only, "gb2312", notes) == "屄"
    utf8 = "你好".encode()
    assert decode_bytes(utf8, "gb2312", notes) == "你好"  # UTF-8 before the wide superset
