"""Building outbound mail: multipart text + HTML with the headers RFC 3834 asks for.

Everything that came from a complainant (their subject, their address, their Message-IDs)
passes through :func:`header_safe` or a strict syntax check before it touches a header, so
no user text can add a header or a recipient (header injection).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from intake.errors import InputError

_MSGID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.\[\]:-]{1,200}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
MAX_SUBJECT = 250
MAX_REFERENCES = 20  # RFC 5322 allows trimming the middle of a long References chain

# RFC 3834 section 5 and Microsoft's header: tell other robots not to answer us.
AUTO_HEADERS = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))


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
    tag = re.sub(r"[^A-Za-z0-9-]", "", tag)[:32]
    token = secrets.token_hex(12)
    return f"{token}.{tag}@{domain}" if tag else f"{token}@{domain}"


def domain_of(address: str) -> str:
    domain = address.rsplit("@", 1)[-1].strip().strip(">")
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "localhost"


def build_message(mail: Outgoing, *, date: str | None = None) -> EmailMessage:
    """The complete message: headers checked, text part first, HTML alternative second."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = mailbox(mail.from_address)
    msg["To"] = [mailbox(a) for a in mail.to]
    msg["Subject"] = header_safe(mail.subject)
    msg["Date"] = date or formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<{mail.message_id or new_message_id(domain_of(mail.from_address))}>"
    _thread_headers(msg, mail)
    if mail.auto_reply:
        for name, value in AUTO_HEADERS:
            msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def _thread_headers(msg: EmailMessage, mail: Outgoing) -> None:
    """In-Reply-To and References (RFC 5322 section 3.6.4), only from valid ids."""
    parent = valid_message_id(mail.in_reply_to)
    refs = [r for r in (valid_message_id(x) for x in mail.references) if r]
    if parent and parent not in refs:
        refs.append(parent)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)


