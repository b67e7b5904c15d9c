"""Turning MIME parts into text: charsets, HTML-only mail, and quoted replies.

Every decoder here degrades instead of failing: a part in an unknown or lying charset is
decoded with replacement characters and the fact is written to ``notes``, so a person can
see why a letter quotes a garbled word, and the message is never lost over one byte.
"""

from __future__ import annotations

import codecs
import logging
import re
from email.message import Message

from inscriptis import get_text
from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage

log = logging.getLogger(__name__)

_REPLY_PARSER = EmailReplyParser(languages=["en"])


def _reply_patterns() -> dict[str, re.Pattern[str]]:
    """The reply parser's three patterns, compiled once.

    Its ``read`` makes a new ``EmailMessage`` per text, which builds the pattern sources
    again and looks them up in the ``re`` cache (evicted now and then by the MIME parser's
    boundary patterns, and then compiled anew); the same patterns are handed to each.
    """
    sample = EmailMessage(text="", languages=_REPLY_PARSER.languages)
    return {"_header_regex": sample.HEADER_REGEX,
            "_disclaimers_regex": sample.DISCLAIMERS_REGEX,
            "_signature_regex": sample.SIGNATURE_REGEX}


_REPLY_PATTERNS = _reply_patterns()
# Fallback for undeclared 8-bit text: UTF-8 first, then what Windows mail clients send.
_UNDECLARED = ("utf-8", "windows-1252")
# The reply parser's regexes are not linear on pathological input; long bodies are rare
# and are kept whole rather than risk a stall in the worker.
_REPLY_PARSE_MAX_CHARS = 200_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Compiled once: the re module's own cache is shared with the parser, which compiles a
# new pattern for every multipart boundary it meets and so keeps evicting the others.
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")


def payload_bytes(part: Message) -> bytes:
    """The part's body with its transfer encoding undone (bad base64 is decoded leniently)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - the email package raises odd types on broken parts
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


# Mail clients label text with a charset and write its superset: GBK characters under
# "gb2312", CP949 Hangul under "euc-kr", CP932 symbols under "shift_jis". The superset
# is tried after the label and UTF-8 (a wrong label over UTF-8 bytes is common, and the
# wide supersets would read UTF-8 bytes as nonsense without an error).
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949",
              "shift_jis": "cp932", "big5": "big5hkscs"}
# ISO-8859-1 never fails, and its C1 controls are never meant: Windows-1252 first.
_LATIN_1 = ("cp1252", "iso8859-1")


def _known_charset(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _codecs_for(known: str | None) -> list[str]:
    """Codecs to try for a label, best first; the first one also decodes with replacement."""
    if not known or known == "ascii":
        return list(_UNDECLARED)
    if known == "iso8859-1":
        return list(_LATIN_1)
    return list(dict.fromkeys([known, "utf-8", _SUPERSETS.get(known, known)]))


def decode_bytes(data: bytes, charset: str | None, notes: list[str]) -> str:
    """Decode text in its declared charset; never raise, and note whatever was guessed."""
    declared = (charset or "").strip().strip('"').lower() or None
    known = _known_charset(declared)
    if declared and not known:
        notes.append(f"unknown charset {declared[:40]!r}; decoded as UTF-8")
    candidates = _codecs_for(known)
    for name in candidates:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        if known and name == "utf-8" and candidates[0] != "utf-8":
            notes.append(f"declared charset {declared!r} did not fit; decoded as UTF-8")
        return clean_text(text)
    notes.append("undecodable bytes replaced")
    return clean_text(data.decode(candidates[0], errors="replace"))


def clean_text(text: str) -> str:
    """Normalise line ends and drop control characters that break storage and display."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def html_to_text(html: str) -> str:
    """Readable text from an HTML body (phones often send nothing else)."""
    try:
        text = get_text(html)
    except Exception:  # noqa: BLE001 - fall back to crude tag stripping, never fail
        log.warning("HTML conversion failed; stripping tags instead")
        text = _TAG.sub(" ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def part_text(part: Message, notes: list[str]) -> str:
    """Decoded text of one text/* part, HTML converted."""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - malformed parameters
        charset = None
    text = decode_bytes(payload_bytes(part), charset, notes)
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text


def new_words(text: str) -> str:
    """The writer's own words: quoted replies and signature removed (reply parser)."""
    if not text.strip() or len(text) > _REPLY_PARSE_MAX_CHARS:
        return text.strip()
    try:
        # _REPLY_PARSER.read(text), with the patterns it would build
        message = EmailMessage(text=text, languages=_REPLY_PARSER.languages,
                               **_REPLY_PATTERNS).read()  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a parser failure keeps the whole text
        log.warning("reply parser failed; keeping the whole text")
        return text.strip()
    if not message.replies:
        return text.strip()
    latest = message.replies[0]
    own = (latest.body or "").strip() or (latest.full_body or "").strip()
    return own or text.strip()
