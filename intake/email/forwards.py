"""Forwarded complaints: who wrote the original, as opposed to who sent it to us.

A school or an MP's office often forwards someone else's complaint. The person who wrote
to us gets the letter (PRODUCT.md, Letters); the original author is recorded beside them so
staff see both. Mail clients mark a forward inline with a separator and a header block
(Gmail, Outlook, Apple Mail, Thunderbird) or attach the original as ``message/rfc822``.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from intake.records import Contact

# Separators that only a forward writes (Gmail, Thunderbird, Apple Mail).
_FORWARD_SEPARATOR = re.compile(
    r"^\s*(?:-{3,}\s*Forwarded message\s*-{3,}|Begin forwarded message:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# Outlook writes these above replies and forwards alike: a forward only with FW: in front.
_QUOTE_SEPARATOR = re.compile(r"^\s*(?:-{3,}\s*Original Message\s*-{3,}|_{20,})\s*$",
                              re.IGNORECASE | re.MULTILINE)
_FROM_LINE = re.compile(r"^\s*\**From:\**\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|fw)\s*:", re.IGNORECASE)
_HEADER_BLOCK_LINES = 8  # the From: line must sit within the block under the separator
_MAILTO = re.compile(r"\[mailto:([^\]]+)\]")  # Outlook's "Name [mailto:address]"


def looks_forwarded(subject: str | None, text: str) -> bool:
    """A forward marker in the subject or a forward-only separator in the body."""
    return bool(_FORWARD_SUBJECT.match(subject or "")) or bool(_FORWARD_SEPARATOR.search(text))


def forwarded_author(subject: str | None, text: str) -> Contact | None:
    """The original author named in the first forwarded header block, if there is one."""
    separators = [_FORWARD_SEPARATOR]
    if _FORWARD_SUBJECT.match(subject or ""):
        separators.append(_QUOTE_SEPARATOR)
    found = sorted((m for pattern in separators for m in pattern.finditer(text)),
                   key=lambda m: m.start())
    for separator in found:
        block = "\n".join(text[separator.end():].lstrip("\n").splitlines()[:_HEADER_BLOCK_LINES])
        match = _FROM_LINE.search(block)
        if match:
            return contact_from_header(match.group(1))
    return None


def contact_from_header(value: str) -> Contact | None:
    """``Jane Smith <jane@example.org>``, ``jane@example.org`` or ``Jane Smith [mailto:...]``."""
    value = _MAILTO.sub(r"<\1>", value.strip())
    name, address = parseaddr(value)
    if "@" not in address:
        name, address = value.strip(' "'), ""
    if not (name or address):
        return None
    return Contact(name=name or None, email=address.lower() or None)
