"""parse_email: real-world mail read without crashing, charsets and structure recorded."""

from __future__ import annotations

import hashlib
from email.header import Header
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.email.parse import external_id_of, parse_email
from intake.errors import InputError

EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"


def fixture(name: str) -> bytes:
    return (EML / name).read_bytes()


def test_plain_complaint_headers_and_body() -> None:
    parsed = parse_email(fixture("complaint_plain.eml"))
    assert parsed.contact.name == "Sarah Patel"
    assert parsed.contact.email == parsed.reply_address == "s.patel@example-school.org.uk"
    assert parsed.message_id == "CAHeadteacher0001@example-school.org.uk"
    assert parsed.subject.startswith("Formal complaint about the conduct")
    assert "Riverside Primary School (URN 123456)" in parsed.text
    assert parsed.sent_date is not None and parsed.sent_date.tzinfo is not None
    assert parsed.notes == []


def test_reply_to_wins_over_from() -> None:
    raw = (b"From: Office <office@example.org>\r\nReply-To: Jo Bloggs <jo@example.net>\r\n"
           b"Subject: complaint\r\n\r\nText\r\n")
    parsed = parse_email(raw)
    assert parsed.reply_address == "jo@example.net"
    assert parsed.contact.email == "office@example.org"


def test_html_only_iphone_mail_becomes_text() -> None:
    parsed = parse_email(fixture("complaint_iphone_html.eml"))
    assert "<div" not in parsed.text
    assert "Little Acorns Nursery" in parsed.text
    assert "I want the report looked at again." in parsed.text


@pytest.mark.parametrize(("name", "subject", "words"), [
    ("charset_big5.eml", "投訴：托兒所檢查 - complaint about childminder inspection",
     "我對檢查員的行為表示投訴"),
    ("charset_latin1.eml", "Réclamation : inspection de l'école", "déposer une réclamation"),
    ("charset_cp1252.eml", "Complaint re inspection of Sunnyside Day Nursery",
     "“failed to safeguard”"),
    ("charset_koi8r.eml", "Жалоба на инспекцию", "Инспектор был груб"),
])
def test_declared_charsets_decode_exactly(name: str, subject: str, words: str) -> None:
    parsed = parse_email(fixture(name))
    assert parsed.subject == subject
    assert words in parsed.text
    assert parsed.notes == []  # nothing was guessed


def test_unknown_charset_and_bad_bytes_are_replaced_and_recorded() -> None:
    parsed = parse_email(fixture("charset_unknown.eml"))
    assert "Zażółć gęślą jaźń" in parsed.text  # the unknown charset read as UTF-8
    assert "café naïve" in parsed.text  # undeclared 8-bit read as windows-1252
    assert "\ufffd" in parsed.text
    assert "undecodable bytes replaced" in parsed.notes
    assert any("unknown charset 'x-made-up-8'" in n for n in parsed.notes)


def test_quoted_reply_and_signature_are_separated() -> None:
    parsed = parse_email(fixture("reply_gmail.eml"))
    assert "> Thank you for your complaint" in parsed.text
    assert parsed.new_text.startswith("Thank you. The inspection dates were 3 and 4 February")
    assert "wrote:" not in parsed.new_text and ">" not in parsed.new_text
    assert parsed.in_reply_to == ["b1d2e3f4a5c6d7e8f9a0b1c2.CMP-2025-00040@localhost",
                                  "CAJx+orig0001xyz@mail.gmail.com"]
    assert parsed.headers["references"][-1] == "b1d2e3f4a5c6d7e8f9a0b1c2.CMP-2025-00040@localhost"


def test_outlook_reply_is_not_taken_for_a_forward() -> None:
    parsed = parse_email(fixture("reply_outlook.eml"))
    assert parsed.forwarded_from is None
    assert "Original Message" not in parsed.new_text
    assert "evidence log summary" in parsed.new_text


@pytest.mark.parametrize(("name", "author", "forwarder"), [
    ("complaint_outlook_forward.eml", ("Grace Adeyemi", "grace.adeyemi@example.net"),
     "office@riverside-primary.example.sch.uk"),
    ("complaint_gmail_forward.eml", ("Robert Lyle", "robert.lyle@example.org"),
     "caseworker.mp.office@gmail.com"),
    ("complaint_forward_as_attachment.eml", ("Linda Carr", "linda.carr@example.com"),
     "clerk@example-governors.org.uk"),
])
def test_forwarded_complaint_records_both_people(name: str, author: tuple[str, str],
                                                 forwarder: str) -> None:
    parsed = parse_email(fixture(name))
    assert parsed.forwarded_from is not None
    assert (parsed.forwarded_from.name, parsed.forwarded_from.email) == author
    assert parsed.contact.email == parsed.reply_address == forwarder
    assert author[0] in parsed.new_text  # the forwarded words are kept as the complaint


def test_inline_text_part_with_a_file_name_is_body_text() -> None:
    parsed = parse_email(fixture("complaint_inline_named_text_part.eml"))
    assert "did not look at our learning journals" in parsed.text
    assert parsed.attachments == []


def test_utf8_under_a_wrong_declared_charset_is_read_as_utf8() -> None:
    parsed = parse_email(fixture("charset_utf8_declared_gb2312.eml"))
    assert parsed.text.startswith("你好，我想投诉") and "\ufffd" not in parsed.text
    assert parsed.notes == ["declared charset 'gb2312' did not fit; decoded as UTF-8"]


def test_attachment_only_body_keeps_name_type_size_hash() -> None:
    parsed = parse_email(fixture("complaint_attachment_only.eml"))
    assert parsed.text == ""
    (att,) = parsed.attachments
    assert att.filename == "Complaint letter 16-03-2025.pdf"
    assert att.content_type == "application/pdf"
    assert att.data.startswith(b"%PDF-1.4") and att.size == len(att.data)
    assert att.sha256 == hashlib.sha256(att.data).hexdigest()


def test_empty_body_parses() -> None:
    parsed = parse_email(fixture("complaint_empty_body.eml"))
    assert parsed.text == "" and parsed.new_text == ""
    assert parsed.subject == "complaint about school inspection"


@pytest.mark.parametrize("name", ["broken_boundary_mismatch.eml", "broken_no_boundary_param.eml"])
def test_broken_boundaries_still_yield_the_text(name: str) -> None:
    parsed = parse_email(fixture(name))
    assert "inspect" in parsed.text
    assert "MIME structure broken; body read as plain text" in parsed.notes
    assert "Content-Type" not in parsed.text and "--==" not in parsed.text


def test_truncated_base64_attachment_is_kept_not_fatal() -> None:
    parsed = parse_email(fixture("broken_truncated_base64.eml"))
    assert parsed.subject == "Complaint – inspection"
    assert "The report is wrong." in parsed.text
    assert [a.filename for a in parsed.attachments] == ["photo.jpg"]


def test_delivery_report_names_the_original_message() -> None:
    parsed = parse_email(fixture("bounce_postfix.eml"))
    report = parsed.headers["dsn"]
    assert report["original_message_ids"] == [
        "5f2a9c1d0e3b4a7f8c6d2e1a.CMP-2025-00017@localhost"]
    assert report["final_recipients"] == ["head.teacher@example-school.org.uk"]
    assert report["status"] == "5.1.1" and report["action"] == "failed"
    assert parsed.forwarded_from is None


def test_exim_text_bounce_pasted_headers_give_the_message_id() -> None:
    parsed = parse_email(fixture("bounce_exim.eml"))
    assert parsed.headers["x-failed-recipients"] == "j.okafor@example-council.gov.uk"
    assert "dsn" not in parsed.headers  # plain text, not a report: screen reads the header


@pytest.mark.parametrize("raw", [b"", b"   \r\n", fixture("quarantine_not_mail.eml"),
                                 b"just some words with no header\r\n\r\nbody"])
def test_bytes_that_are_not_mail_raise_input_error(raw: bytes) -> None:
    with pytest.raises(InputError):
        parse_email(raw)


def test_leading_mbox_from_line_is_tolerated() -> None:
    parsed = parse_email(b"From jo@example.org Mon Mar  3 10:00:00 2025\r\n"
                         b"From: jo@example.org\r\nSubject: hi\r\n\r\nbody\r\n")
    assert (parsed.subject, parsed.contact.email, parsed.text) == ("hi", "jo@example.org",
                                                                   "body")


def test_external_id_is_message_id_or_stable_hash() -> None:
    assert external_id_of(fixture("complaint_plain.eml")) == \
        "CAHeadteacher0001@example-school.org.uk"
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nno id\r\n"
    generated = external_id_of(raw)
    assert generated == external_id_of(raw)  # a retried delivery is a duplicate
    assert generated.endswith("@intake.invalid") and generated != external_id_of(raw + b"!")


# --- random input ----------------------------------------------------------------------

_header_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                       max_size=80)


@st.composite
def structured_mail(draw: st.DrawFn) -> bytes:
    """Mail with a From header and a text body; other header values, charset and boundary
    random (header values as raw UTF-8 or RFC 2047 words, as real clients send them)."""
    lines = [b"From: Some One <some.one@example.org>"]
    for name in ("Subject", "Message-ID", "In-Reply-To", "References", "Date", "Reply-To",
                 "Auto-Submitted", "Content-Language"):
        value = " ".join(draw(_header_text).split())
        if value and draw(st.booleans()):
            value = Header(value, "utf-8").encode()
        lines.append(name.encode() + b": " + value.encode("utf-8"))
    body = draw(st.text(max_size=300)).encode("utf-8")
    charset = draw(st.sampled_from(["utf-8", "latin-1", "koi8-r", "big5", "x-nonsense"]))
    boundary = draw(st.sampled_from(["b1", "", "\"unterminated", "b1\"; x=\"y"]))
    if boundary:
        lines += [f"Content-Type: multipart/mixed; boundary={boundary}".encode(), b"",
                  b"--b1", f"Content-Type: text/plain; charset={charset}".encode()]
    else:
        lines.append(f"Content-Type: text/plain; charset={charset}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured_mail())
def test_structured_mail_with_random_values_always_parses(raw: bytes) -> None:
    parsed = parse_email(raw)  # no exception at all, not even InputError
    assert parsed.contact.email == "some.one@example.org"
    assert isinstance(parsed.text, str) and isinstance(parsed.new_text, str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.builds(lambda h, b: h + b"\r\n\r\n" + b,
                                         st.binary(max_size=200), st.binary(max_size=200)))
def test_random_bytes_raise_nothing_but_input_error(raw: bytes) -> None:
    try:
        parse_email(raw)
    except InputError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Subject", "Content-Type",
                                           "Content-Transfer-Encoding", "Date", "Message-ID",
                                           "Content-Disposition", "Reply-To"]),
                          st.binary(max_size=60)), min_size=1, max_size=8),
       st.binary(max_size=300))
def test_random_header_values_never_break_parsing(headers: list[tuple[str, bytes]],
                                                  body: bytes) -> None:
    raw = b"".join(n.encode() + b": " + v.replace(b"\n", b" ").replace(b"\r", b" ") + b"\r\n"
                   for n, v in headers) + b"\r\n" + body
    parsed = parse_email(raw)  # a header line is present: this is mail, it must parse
    assert isinstance(parsed.text, str)
