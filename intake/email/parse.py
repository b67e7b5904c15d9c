"""Reading a stored RFC 5322 message into a :class:`~intake.records.ParsedMessage`.

Uses the standard ``email`` package with policy ``default`` (each header parsed once per
message, see :class:`_ParsePolicy`). Real mail is often broken (bad boundaries, lying
charsets, headers the parser chokes on), so every header and part is read defensively:
what cannot be read is recorded in ``notes`` and the rest goes on. Only bytes that are
not mail at all raise :class:`~intake.errors.InputError`, which quarantines the message
for a person (PRODUCT.md, SMTP intake).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from email import feedparser, policy
from email.feedparser import FeedParser
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy, compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from types import FunctionType
from typing import Any

from intake.email import dsn, forwards
from intake.email.body import clean_text, decode_bytes, new_words, part_text, payload_bytes
from intake.errors import InputError
from intake.records import AttachmentInfo, Contact, ParsedMessage

log = logging.getLogger(__name__)

# Headers kept on the record: screening, trust and threading need these and no others.
KEPT_HEADERS = (
    "auto-submitted", "precedence", "x-precedence", "list-id", "list-unsubscribe",
    "list-post", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "x-spam-flag", "x-spam-status", "x-spam", "x-spamd-result", "x-rspamd-action",
    "x-rspamd-score", "x-failed-recipients", "return-path", "x-loop", "delivered-to",
    "x-ms-exchange-inbox-rules-loop", "feedback-id", "x-mlserver", "x-ml-name",
    "x-mailman-version", "mailing-list",
)
MAX_EXTERNAL_ID = 500  # messages.external_id is 512 characters
_HEADER_NAME = re.compile(rb"^[!-9;-~]+:", re.M)
_MIME_LINE = re.compile(r"^(--\S+|Content-[\w-]+:.*|This is a multi-?part message.*)$", re.I)
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{40,}={0,2}$")


# MIME headers whose common values recur in message after message and say nothing about
# anyone ("text/plain; charset=utf-8", "base64", "1.0"): parsed once per process, since
# parsing one costs as much as reading a plain message's body (about 50 us).
_SHARED_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_SHARED_VALUE = re.compile(r'[\w.+/-]{1,60}(?:;[ \t]*charset="?[\w.:-]{1,40}"?)?[ \t]*', re.A)
_SHARED_MAX = 256
_shared_parsed: dict[tuple[str, str], Any] = {}


class _ParsePolicy(EmailPolicy):
    """``policy.default`` that keeps each header it has parsed, for one message's tree.

    The email package parses a header anew on every read, and the walk reads the same few
    many times (``get_content_type`` alone about a dozen per message, during and after
    the parse). A parsed header depends only on its name and text, so reusing it gives the
    same answers; the memo lives and dies with the message, so no mail outlives its parse.
    Only the bare MIME values of ``_SHARED_VALUE`` (no boundary, no file name) are kept
    for the process.
    """

    _parsed: dict[tuple[str, str], Any]

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = _shared_parse(key)
        if found is None:
            found = super().header_fetch_parse(name, value)
        self._parsed[key] = found
        return found


def _shared_parse(key: tuple[str, str]) -> Any:
    """The process's parse of a bare MIME header value; None for any other header."""
    found = _shared_parsed.get(key)
    if found is not None:
        return found
    name, value = key
    if name.lower() not in _SHARED_HEADERS or not _SHARED_VALUE.fullmatch(value):
        return None
    found = policy.default.header_fetch_parse(name, value)
    if len(_shared_parsed) < _SHARED_MAX:
        _shared_parsed[key] = found
    return found


def _policy() -> _ParsePolicy:
    fresh = _ParsePolicy(header_factory=policy.default.header_factory)
    object.__setattr__(fresh, "_parsed", {})  # policies are frozen once built
    return fresh


class _TailLineEnd:
    """``feedparser.NLCRE_eol`` (a line end at the end of the text) reading only the last
    two characters: the same match, where the stdlib's pattern scans the whole text, and
    the parser runs it on every part's payload (about 1 ms on a 300 KB attachment)."""

    def search(self, text: str) -> re.Match[str] | None:
        return feedparser.NLCRE_eol.search(text, max(0, len(text) - 2))


class _Lines(feedparser.BufferedSubFile):
    """The feed parser's line buffer, iterated by a generator.

    A part's body is read with ``for line in self._input``, which calls ``__next__`` and
    ``readline`` for every line (4,000 of them in a 300 KB attachment). The generator does
    what they do, in the same order: a line that one of the boundary tests matches is put
    back and ends the iteration, as does an empty line or the end of a closed input, and
    a drained open input yields ``NeedMoreData``.
    """

    def __iter__(self) -> Any:
        lines, eofstack = self._lines, self._eofstack  # type: ignore[attr-defined]
        while True:
            if not lines:
                if self._closed:  # type: ignore[attr-defined]
                    return
                yield feedparser.NeedMoreData
                continue
            line = lines.popleft()
            for ateof in reversed(eofstack):
                if ateof(line):
                    lines.appendleft(line)
                    return
            if line == "":
                return
            yield line


class _MailParser(FeedParser):
    """The stdlib's feed parser with ``_TailLineEnd`` in place of its line-end pattern
    (the same code, run with that one global swapped; the module itself is untouched)
    and ``_Lines`` as its buffer."""

    _parsegen = FunctionType(
        FeedParser._parsegen.__code__,  # type: ignore[attr-defined]
        {**vars(feedparser), "NLCRE_eol": _TailLineEnd()},
        "_parsegen",
    )

    def __init__(self, *, policy: Any) -> None:
        super().__init__(policy=policy)
        self._input = _Lines()


def read_mail(raw: bytes, mail_policy: Any) -> Message:
    """``email.message_from_bytes(raw, policy=mail_policy)``, cheaper on large parts.

    The bytes are fed in one piece (``BytesParser`` feeds 8 KB at a time, and each feed
    resumes the parser's generators) to ``_MailParser``.
    """
    parser = _MailParser(policy=mail_policy)
    parser.feed(raw.decode("ascii", "surrogateescape"))
    return parser.close()


def parse_email(raw: bytes) -> ParsedMessage:
    """Parse stored mail bytes; raise InputError only for bytes that are not mail."""
    _check_is_mail(raw)
    try:
        msg = read_mail(raw, _policy())
        return _parse(msg)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last guard; see module docstring
        # the type only: exception texts from the email package can quote header values
        log.warning("mail structure unreadable (%s)", type(exc).__name__)
        raise InputError(f"the MIME structure cannot be read ({type(exc).__name__})") from None


def _check_is_mail(raw: bytes) -> None:
    if not raw.strip():
        raise InputError("empty message")
    head = raw.lstrip()
    if head.startswith(b"From "):  # an mbox separator line some MTAs prepend
        head = head.split(b"\n", 1)[-1]
    if not _HEADER_NAME.match(head):
        raise InputError("no header fields: the data is not an email message")


def _parse(msg: Message) -> ParsedMessage:
    notes: list[str] = []
    from_name, from_addr = first_address(msg, "from", notes)
    _, reply_to = first_address(msg, "reply-to", notes)
    subject = header_text(msg, "subject", notes)
    text, attachments, inner = _walk(msg, notes)
    parsed = ParsedMessage(
        text=text,
        new_text=text.strip(),
        subject=subject,
        from_header=header_text(msg, "from", notes),
        reply_address=reply_to or from_addr,
        contact=Contact(name=from_name, email=from_addr),
        message_id=_first_id(header_text(msg, "message-id", notes)),
        in_reply_to=_thread_ids(msg, notes),
        headers=_kept_headers(msg, notes),
        attachments=attachments,
        notes=notes,
        sent_date=_sent_date(msg, notes),
    )
    if msg.get_content_type() == "multipart/report":
        parsed.headers["dsn"] = dsn.read_report(msg, text)  # a bounce forwards nothing
    else:
        _read_forward(parsed, inner)
    parsed.notes = list(dict.fromkeys(notes))
    return parsed


def header_text(msg: Message, name: str, notes: list[str]) -> str | None:
    """A header's decoded value (RFC 2047 words decoded), or None; never raises."""
    try:
        value = msg.get(name)
        text = None if value is None else str(value)
    except Exception:  # noqa: BLE001 - policy.default can fail on malformed headers
        notes.append(f"{name} header unreadable; kept raw")
        text = _raw_header(msg, name)
    if text is None:
        return None
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "\ufffd" in text:
        text = _redecoded_header(msg, name, notes) or text
    return clean_text(" ".join(text.split())) or None


def _redecoded_header(msg: Message, name: str, notes: list[str]) -> str | None:
    """A header the email package could not decode, read again as mail clients do.

    Encoded words in a charset's superset (GBK under "gb2312") and raw 8-bit bytes in
    the charset of the message's text (Chinese webmail sends both) come out readable.
    """
    raw = _raw_header(msg, name)
    if raw is None:
        return None
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed encoded words
        return None
    fallback = _text_charset(msg)
    if fallback is None or fallback.lower() in _LATIN_LABELS:
        fallback = "utf-8"  # any 8-bit text reads as Latin: no guess beats a visible gap
    found: list[str] = []  # decoding notes, kept only if the second reading is clean
    parts = []
    for chunk, charset in chunks:
        data = chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk
        parts.append(decode_bytes(data, charset or fallback, found))
    text = "".join(parts)
    if "\ufffd" in text:
        return None
    notes.extend(found)
    notes.append(f"{name} header decoded again")
    return text


_LATIN_LABELS = ("us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252")


def _text_charset(msg: Message) -> str | None:
    """The charset declared on the message's first text part, if any."""
    for part in msg.walk():
        try:
            charset = part.get_content_charset() if part.get_content_maintype() == "text" \
                else None
        except Exception:  # noqa: BLE001 - broken Content-Type parameters
            charset = None
        if charset:
            return charset
    return None


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def first_address(msg: Message, name: str, notes: list[str]) -> tuple[str | None, str | None]:
    """Display name and address of the first mailbox in an address header."""
    try:
        header = msg.get(name)
        mailboxes = [a for a in getattr(header, "addresses", ()) if a.addr_spec]
        if mailboxes:
            box = mailboxes[0]
            return box.display_name or None, _address(box.addr_spec)
    except Exception:  # noqa: BLE001 - fall back to the lenient parser below
        notes.append(f"{name} header malformed")
    raw = _raw_header(msg, name)
    if not raw:
        return None, None
    pairs = getaddresses([raw])
    display, addr = pairs[0] if pairs else parseaddr(raw)
    return display or None, _address(addr)


def _address(addr: str) -> str | None:
    addr = addr.strip().strip("<>").strip()
    if "@" not in addr or any(c.isspace() for c in addr) or len(addr) > 320:
        return None
    return addr.encode("utf-8", "surrogateescape").decode("utf-8", "replace").lower()


def _first_id(value: str | None) -> str | None:
    ids = dsn.message_ids(value)
    if ids:
        return ids[0]
    token = (value or "").strip().strip("<>").split()
    return token[0][:MAX_EXTERNAL_ID] if token else None


def _thread_ids(msg: Message, notes: list[str]) -> list[str]:
    ids: list[str] = []
    for name in ("in-reply-to", "references"):
        ids += dsn.message_ids(header_text(msg, name, notes))
    return list(dict.fromkeys(ids))


def _kept_headers(msg: Message, notes: list[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {"content-type": msg.get_content_type()}
    present = {key.lower() for key in msg.keys()}  # most mail has few of the kept headers
    for name in KEPT_HEADERS:
        if name not in present:
            continue
        value = header_text(msg, name, notes)
        if value is not None:
            kept[name] = value
    references = dsn.message_ids(header_text(msg, "references", notes))
    if references:
        kept["references"] = references  # letters answering this mail extend the chain
    results = [_raw_str(v) for k, v in msg.raw_items() if k.lower() == "authentication-results"]
    if results:
        kept["authentication-results"] = results
    return kept


def _raw_str(value: Any) -> str:
    return " ".join(str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    .split())


def _sent_date(msg: Message, notes: list[str]) -> datetime | None:
    raw = _raw_header(msg, "date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        notes.append("date header unreadable")
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _read_forward(parsed: ParsedMessage, inner: list[Message]) -> None:
    """Record the original author of a forwarded complaint, and keep its text as new text."""
    author = forwards.forwarded_author(parsed.subject, parsed.text)
    if author is None and inner:
        name, addr = first_address(inner[0], "from", [])
        author = Contact(name=name, email=addr) if (name or addr) else None
    if author is not None or forwards.looks_forwarded(parsed.subject, parsed.text):
        parsed.forwarded_from = author
        parsed.new_text = parsed.text.strip()  # the forwarded words are the complaint
    else:
        parsed.new_text = new_words(parsed.text)


# --- the MIME tree ---------------------------------------------------------------------


def _walk(msg: Message, notes: list[str]) -> tuple[str, list[AttachmentInfo], list[Message]]:
    """Best plain-text body, attachments, and messages attached as message/rfc822."""
    texts: list[str] = []
    attachments: list[AttachmentInfo] = []
    inner: list[Message] = []
    _visit(msg, texts, attachments, inner, notes)
    for defect in getattr(msg, "defects", []):
        notes.append(f"MIME defect: {type(defect).__name__}")
    return "\n\n".join(t.strip("\n") for t in texts if t.strip()), attachments, inner


def _visit(part: Message, texts: list[str], attachments: list[AttachmentInfo],
           inner: list[Message], notes: list[str]) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and ctype.startswith("multipart/"):
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            children, read = _best_alternative(children)
            if read is not None and not _is_attachment(children[0]):
                texts.append(read[0])  # the text _visit would read again
                notes.extend(read[1])
                return
        for child in children:
            _visit(child, texts, attachments, inner, notes)
    elif ctype.startswith("multipart/"):  # a broken boundary: the body is one string
        notes.append("MIME structure broken; body read as plain text")
        texts.append(_unstructured_text(part, notes))
    elif ctype == "message/rfc822" and _is_inline_message(part):
        attachments.append(_attachment(part))
        inner.append(part.get_payload()[0])
        texts.append(_inner_text(part.get_payload()[0], notes))
    elif ctype in ("text/plain", "text/html") and not _is_attachment(part):
        texts.append(part_text(part, notes))
    elif ctype.startswith(("message/delivery-status", "text/rfc822-headers")):
        texts.append(payload_bytes(part).decode("utf-8", "replace"))
    else:
        attachments.append(_attachment(part))


def _unstructured_text(part: Message, notes: list[str]) -> str:
    """Text of a multipart whose boundaries do not match: MIME headers and base64 dropped."""
    text = decode_bytes(payload_bytes(part), None, notes)
    lines = [line for line in text.splitlines()
             if not _MIME_LINE.match(line) and not _BASE64_LINE.match(line)]
    return "\n".join(lines).strip()


def _best_alternative(children: list[Message],
                      ) -> tuple[list[Message], tuple[str, list[str]] | None]:
    """Prefer a non-empty text/plain version, then HTML, then whatever is last.

    Also returns the chosen part's text and notes when choosing it meant reading them
    (HTML conversion is the dearest step of a parse; it is done once).
    """
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() != wanted:
                continue
            found: list[str] = []
            text = part_text(child, found)
            if text.strip():
                return [child], (text, found)
    return children[-1:], None


def _is_inline_message(part: Message) -> bool:
    payload = part.get_payload()
    return isinstance(payload, list) and bool(payload) and isinstance(payload[0], Message)


def _inner_text(inner: Message, notes: list[str]) -> str:
    """An attached message as text, under the separator a forwarding client would write."""
    lines = ["---------- Forwarded message ---------"]
    for name in ("from", "date", "subject"):
        value = header_text(inner, name, notes)
        if value:
            lines.append(f"{name.capitalize()}: {value}")
    texts: list[str] = []
    _visit(inner, texts, [], [], notes)
    return "\n".join(lines) + "\n\n" + "\n\n".join(t.strip("\n") for t in texts)


def _is_attachment(part: Message) -> bool:
    """A text part is body text unless it says ``attachment``: clients name inline parts."""
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:  # noqa: BLE001 - malformed parameters
        return True


def _attachment(part: Message) -> AttachmentInfo:
    if part.get_content_type() == "message/rfc822" and _is_inline_message(part):
        data = part.get_payload()[0].as_bytes(policy=compat32)
    else:
        data = payload_bytes(part)
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed parameters
        name = None
    if name:
        name = clean_text(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return AttachmentInfo(filename=name or None, content_type=part.get_content_type(),
                          size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)


# --- cheap reads the SMTP edge needs before storing ----------------------------------


def external_id_of(raw: bytes) -> str:
    """Message-ID without brackets, or a stable id made from the bytes when there is none.

    Reads headers only, so the SMTP edge can call it before answering ``250``. The hash
    makes a retried delivery of the same id-less bytes a duplicate, as it should be.
    """
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(_header_block(raw))
        found = _first_id(_raw_str(headers.get("Message-ID", "")))
    except Exception:  # noqa: BLE001 - any unreadable header means "no id"
        found = None
    if found and len(found) <= MAX_EXTERNAL_ID and found.isprintable():
        return found
    return f"generated.{hashlib.sha256(raw).hexdigest()[:40]}@intake.invalid"


_BLANK_LINE = re.compile(rb"\n\r?\n")


def _header_block(raw: bytes) -> bytes:
    """The bytes up to the first empty line: the header parser reads the same fields from
    them (an empty line always ends the header section), without splitting a 300 KB
    body into lines in the SMTP process before its ``250``."""
    blank = _BLANK_LINE.search(raw)
    return raw[: blank.end()] if blank else raw
