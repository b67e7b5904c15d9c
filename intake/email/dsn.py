"""Delivery status notifications: what a bounce says about the mail it returns.

RFC 3464 reports are ``multipart/report; report-type=delivery-status`` with a
``message/delivery-status`` part and the original as ``message/rfc822`` or
``text/rfc822-headers``. Older servers (and some Exim and Exchange set-ups) send plain text
with the original headers pasted into the body; their ``Message-ID:`` lines are read too.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from intake.email.body import payload_bytes

_MSGID = re.compile(r"<([^<>\s]{1,250}@[^<>\s]{1,250})>")
_PASTED_MSGID = re.compile(r"^\s*Message-ID:\s*<([^<>\s]+@[^<>\s]+)>", re.IGNORECASE | re.M)
_BLANK_LINE = re.compile(r"\n\s*\n")


def message_ids(value: str | None) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References value, brackets off."""
    return _MSGID.findall(value or "")


def pasted_message_ids(text: str) -> list[str]:
    """Message-IDs of returned mail pasted into a plain-text bounce (Exim, qmail)."""
    return _PASTED_MSGID.findall(text)


def _status_fields(part: Message) -> list[dict[str, str]]:
    """Per-message and per-recipient field groups of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses it into header blocks
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    text = payload_bytes(part).decode("ascii", "replace")
    groups: list[dict[str, str]] = []
    for chunk in _BLANK_LINE.split(text.replace("\r\n", "\n")):
        fields = dict(
            (k.strip().lower(), v.strip())
            for k, v in (line.split(":", 1) for line in chunk.splitlines() if ":" in line)
        )
        if fields:
            groups.append(fields)
    return groups


def _original_headers(part: Message) -> Message | None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        return inner[0] if isinstance(inner, list) and inner else None
    if part.get_content_type() == "text/rfc822-headers":
        return BytesHeaderParser(policy=compat32).parsebytes(payload_bytes(part))
    return None


def read_report(msg: Message, body_text: str) -> dict[str, Any]:
    """Original Message-IDs, final recipients, action and status named by a bounce."""
    report: dict[str, Any] = {"original_message_ids": [], "final_recipients": [],
                              "status": None, "action": None, "original_subject": None}
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            _read_status(part, report)
        original = _original_headers(part) if part is not msg else None
        if original is not None:
            report["original_message_ids"] += message_ids(str(original.get("Message-ID", "")))
            report["original_subject"] = report["original_subject"] or _safe(original, "Subject")
    report["original_message_ids"] += pasted_message_ids(body_text)
    report["original_message_ids"] = list(dict.fromkeys(report["original_message_ids"]))
    return report


def _read_status(part: Message, report: dict[str, Any]) -> None:
    for fields in _status_fields(part):
        recipient = fields.get("final-recipient") or fields.get("original-recipient")
        if recipient:
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            report["final_recipients"].append(address)
        report["action"] = report["action"] or fields.get("action")
        report["status"] = report["status"] or fields.get("status")


def _safe(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
        return str(value) if value is not None else None
    except Exception:  # noqa: BLE001 - headers of a returned message may be anything
        return None
