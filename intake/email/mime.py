"""Building outbound mail: multipart text + HTML with the headers RFC 3834 asks for.

Everything that came from a complainant (their subject, their address, their Message-IDs)
passes through :func:`header_safe` or a strict syntax check before it touches a header, so
no user text can add a header or a recipient (header injection).
"""

from __future__ import annotations

import random
import re
import secrets
import sys
from dataclasses import dataclass, field
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formatdate, parsedate_to_datetime

from intake.errors import InputError

_MSGID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.\[\]:-]{1,200}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_NOT_TAG = re.compile(r"[^A-Za-z0-9-]")
_NOT_DOMAIN = re.compile(r"[^A-Za-z0-9.-]")
MAX_SUBJECT = 250
MAX_REFERENCES = 20  # RFC 5322 allows trimming the middle of a long References chain

# RFC 3834 section 5 and Microsoft's header: tell other robots not to answer us.
AUTO_HEADERS = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))

# A header value the SMTP policy writes out exactly as given: printable ASCII words with
# single spaces, no encoded-word opener, short enough not to be folded. Anything else goes
# through the header registry, as ``msg[name] = value`` always did.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_MSGID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
# Content headers every letter part carries, parsed once: the generator reads them back
# while writing, the header registry is the costly part of building a message, and these
# values never change. (MIME-Version is never read back, so it is stored as plain text.)
_CONSTANT = {(name, value): SMTP.header_factory(name, value) for name, value in (
    ("Content-Type", 'text/plain; charset="utf-8"'),
    ("Content-Type", 'text/html; charset="utf-8"'),
    ("Content-Transfer-Encoding", "quoted-printable"),
)}
# The generator's own boundary format ("=" * 15, a zero-padded random number, "=="); see
# _boundary for why it needs no collision check here.
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


@dataclass(frozen=True)
class Outgoing:
    """What a mail says; ``build_message`` turns it into bytes."""

    from_address: str
    to: list[str]
    subject: str
    text: str
    html: str | None = None
    message_id: str = ""  # without brackets; generated when empty
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    auto_reply: bool = True


def header_safe(value: str, limit: int = MAX_SUBJECT) -> str:
    """One line of text: control characters, CR and LF become single spaces."""
    return " ".join(_UNSAFE.sub(" ", value).split())[:limit]


def valid_message_id(value: str | None) -> str | None:
    """A Message-ID (brackets off) when it is plain msg-id syntax, else None."""
    if not value:
        return None
    value = value.strip().strip("<>")
    return value if _MSGID.match(value) else None


def mailbox(address: str) -> Address:
    """One addr-spec, or InputError (a letter is never sent to a list or a malformed value)."""
    if _UNSAFE.search(address) or any(c in address for c in ",;<>\" "):
        raise InputError("recipient is not a single plain address")
    try:
        parsed = Address(addr_spec=address.strip())
    except (ValueError, IndexError) as exc:
        raise InputError(f"recipient address is malformed ({type(exc).__name__})") from None
    if not parsed.domain or not parsed.username:
        raise InputError("recipient address has no domain")
    return parsed


def new_message_id(domain: str, tag: str = "") -> str:
    """Our own Message-ID (brackets off); the tag (a case reference) helps people, not code."""
    tag = _NOT_TAG.sub("", tag)[:32]
    token = secrets.token_hex(12)
    return f"{token}.{tag}@{domain}" if tag else f"{token}@{domain}"


def domain_of(address: str) -> str:
    domain = address.rsplit("@", 1)[-1].strip().strip(">")
    return _NOT_DOMAIN.sub("", domain) or "localhost"


def build_message(mail: Outgoing, *, date: str | None = None) -> EmailMessage:
    """The complete message: headers checked, text part first, HTML alternative second.

    Assembled part by part rather than through ``set_content``/``add_alternative``, which
    parse every header through the registry several times; the bytes ``as_bytes()`` writes
    are the same as theirs (tests/email/test_mime.py compares the two).
    """
    msg = EmailMessage(policy=SMTP)
    _address_header(msg, "From", [mailbox(mail.from_address)])
    _address_header(msg, "To", [mailbox(a) for a in mail.to])
    _header(msg, "Subject", header_safe(mail.subject))
    _date_header(msg, date or formatdate(localtime=False, usegmt=True))
    message_id = f"<{mail.message_id or new_message_id(domain_of(mail.from_address))}>"
    if _PLAIN_MSGID.fullmatch(message_id):
        _header(msg, "Message-ID", message_id)
    else:
        msg["Message-ID"] = message_id
    _thread_headers(msg, mail)
    if mail.auto_reply:
        for name, value in AUTO_HEADERS:
            _header(msg, name, value)
    if not mail.html:
        _text_part(msg, "plain", mail.text)
        msg.set_raw("MIME-Version", "1.0")
        return msg
    msg.set_raw("MIME-Version", "1.0")
    msg["Content-Type"] = f'multipart/alternative; boundary="{_boundary()}"'
    text, html = EmailMessage(policy=SMTP), EmailMessage(policy=SMTP)
    _text_part(text, "plain", mail.text)
    _text_part(html, "html", mail.html)
    html.set_raw("MIME-Version", "1.0")  # EmailMessage.set_content adds it to a new part
    msg.set_payload([text, html])
    return msg


def _header(msg: EmailMessage, name: str, value: str) -> None:
    """Store a header as written when the registry would write it unchanged, else parse it."""
    if _PLAIN.fullmatch(value) and "=?" not in value \
            and len(name) + 2 + len(value) <= SMTP.max_line_length:
        msg.set_raw(name, value)
    else:
        msg[name] = value


def _address_header(msg: EmailMessage, name: str, addresses: list[Address]) -> None:
    specs = [a.addr_spec for a in addresses]
    if specs and all(_PLAIN_ADDRESS.fullmatch(s) and not a.display_name
                     for s, a in zip(specs, addresses, strict=True)):
        _header(msg, name, ", ".join(specs))
    else:
        msg[name] = addresses


def _date_header(msg: EmailMessage, value: str) -> None:
    """The Date header the registry would write: the date re-formatted with a numeric zone."""
    try:
        written = format_datetime(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        msg["Date"] = value  # the registry records the defect, as before
        return
    _header(msg, "Date", written)


def _constant(msg: EmailMessage, name: str, value: str) -> None:
    msg.set_raw(name, _CONSTANT[(name, value)])


def _text_part(part: EmailMessage, subtype: str, text: str) -> None:
    """Content headers and quoted-printable UTF-8 body, as ``set_content(..., cte=...)``."""
    _constant(part, "Content-Type", f'text/{subtype}; charset="utf-8"')
    _constant(part, "Content-Transfer-Encoding", "quoted-printable")
    lines = text.encode("utf-8").splitlines()
    part.set_payload(quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"),
                                            SMTP.max_line_length))


def _boundary() -> str:
    """A multipart boundary as the generator makes one.

    The generator would also check that no body line starts with it; the parts are
    quoted-printable, where "=" is always followed by two hex digits or ends the line, so
    the boundary's "==" can never occur in them.
    """
    token = random.randrange(sys.maxsize)  # noqa: S311 - a boundary, not a secret
    return "=" * 15 + f"{token:0{_BOUNDARY_DIGITS}d}" + "=="


def _thread_headers(msg: EmailMessage, mail: Outgoing) -> None:
    """In-Reply-To and References (RFC 5322 section 3.6.4), only from valid ids."""
    parent = valid_message_id(mail.in_reply_to)
    refs = [r for r in (valid_message_id(x) for x in mail.references) if r]
    if parent and parent not in refs:
        refs.append(parent)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    if parent:
        _header(msg, "In-Reply-To", f"<{parent}>")
    if refs:
        _header(msg, "References", " ".join(f"<{r}>" for r in refs))


