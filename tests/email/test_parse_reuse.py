"""The parser reuses what it has read: each header parsed once, the chosen alternative once.

Both are pure savings; these tests check that the answers are the ones a fresh read gives,
on the whole public corpus and on the benchmark's mix of plain, HTML and attached mail.
"""

from __future__ import annotations

from email import policy
from pathlib import Path

import pytest

from bench.corpus import make_messages
from intake.email import body, parse
from intake.email.parse import parse_email
from intake.errors import InputError
from intake.records import ParsedMessage

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
FILES = sorted(CORPUS.rglob("*.eml"))
SAMPLES = make_messages(40, seed=11, tag="reuse")


def parse_or_refusal(raw: bytes) -> ParsedMessage | str:
    try:
        return parse_email(raw)
    except InputError as exc:
        return f"InputError: {exc}"


def test_remembered_headers_give_the_same_parse_as_fresh_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [path.read_bytes() for path in FILES] + [s.raw for s in SAMPLES]
    remembered = [parse_or_refusal(raw) for raw in raws]
    monkeypatch.setattr(parse, "_policy", lambda: policy.default)  # every read parses anew
    fresh = [parse_or_refusal(raw) for raw in raws]
    differ = [name for name, a, b in zip(FILES + SAMPLES, remembered, fresh, strict=True)
              if a != b]
    assert len(raws) > 200 and not differ, differ


def test_the_memo_belongs_to_one_message() -> None:
    first = parse._policy()
    second = parse._policy()
    first.header_fetch_parse("Subject", "one")
    assert first._parsed and not second._parsed


ALTERNATIVE = (
    "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{plain}\r\n"
    "--b\r\nContent-Type: text/html; charset=x-unknown\r\n\r\n"
    "<p>The inspector <b>shouted</b> at staff.</p>\r\n--b--\r\n")


def test_html_alternative_is_converted_once_and_its_notes_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = body.html_to_text

    def counted(html: str) -> str:
        calls.append(html)
        return real(html)

    monkeypatch.setattr(body, "html_to_text", counted)
    parsed = parse_email(ALTERNATIVE.format(plain="  ").encode())
    assert len(calls) == 1
    assert "The inspector shouted at staff." in parsed.text
    assert any("unknown charset 'x-unknown'" in note for note in parsed.notes)


def test_plain_alternative_wins_and_html_is_not_converted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body, "html_to_text", lambda html: pytest.fail("HTML was converted"))
    parsed = parse_email(ALTERNATIVE.format(plain="Plain words.").encode())
    assert parsed.text == "Plain words."
    assert parsed.notes == []


def test_a_chosen_alternative_marked_attachment_stays_an_attachment() -> None:
    raw = ALTERNATIVE.format(plain="Plain words.").replace(
        "text/plain; charset=us-ascii\r\n",
        "text/plain; charset=us-ascii\r\nContent-Disposition: attachment; filename=a.txt\r\n")
    parsed = parse_email(raw.encode())
    assert parsed.text == ""
    assert [a.filename for a in parsed.attachments] == ["a.txt"]
