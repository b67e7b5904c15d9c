"""What every channel hands to the pipeline, and what the pipeline works on.

A channel's only job is to turn its input into an :class:`IntakeRecord` (raw bytes kept
as they came). Everything after that (parsing, screening, classification, the case, the
letter) runs from the stored record, so a crash or a bug never loses input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Channel = Literal["email", "slack", "phone"]


@dataclass(frozen=True)
class IntakeRecord:
    """One inbound message exactly as a channel received it."""

    channel: Channel
    external_id: str  # Message-ID without <>, Slack event_id or channel:ts, phone uuid
    received_at: datetime  # aware; the moment the bot accepted it
    raw: bytes  # RFC 5322 bytes, Slack event JSON, or the phone form as JSON
    sender: str = ""  # envelope sender, Slack user ID, or operator
    recipients: tuple[str, ...] = ()


@dataclass
class Contact:
    """The complainant as far as the message tells us."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    role: str | None = None  # provider, parent_carer, local_authority, other
    email_consent: bool = True


@dataclass
class AttachmentInfo:
    filename: str | None
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False, default=b"")


@dataclass
class ParsedMessage:
    """A stored record made readable: the text the classifier sees, and its headers."""

    text: str  # best plain-text body, quotes included (what `messages export` shows)
    new_text: str  # the writer's own words: quoted replies and signature removed
    subject: str | None = None
    from_header: str | None = None
    reply_address: str | None = None  # where a letter would go (Reply-To, else From)
    contact: Contact = field(default_factory=Contact)
    message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)  # In-Reply-To + References ids
    headers: dict[str, Any] = field(default_factory=dict)  # the few we keep, lower-case
    attachments: list[AttachmentInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "undecodable bytes replaced"
    forwarded_from: Contact | None = None  # original sender of a forwarded complaint
    structured: dict[str, Any] = field(default_factory=dict)  # phone form fields
    sent_date: datetime | None = None


@dataclass
class Classification:
    """Labels and extracted fields for one message (RULES.md sections 1-2).

    ``confidence`` keys follow the classify contract: ``intent:complaint``,
    ``aspect:conduct``, ``inspectorate:ofsted``, ``regime:jtai``, ``safeguarding``.
    ``rules`` names the rule or component behind each label, for explanations.
    """

    intent: str
    aspects: list[str]
    inspectorates: list[str]
    regime: str
    safeguarding: bool
    confidence: dict[str, float]
    urn: str | None = None
    report_published: date | None = None
    draft_received: date | None = None
    inspection_dates: list[date] = field(default_factory=list)
    provider: str | None = None
    contact: Contact = field(default_factory=Contact)
    desired_outcome: str | None = None
    actions_taken: str | None = None
    availability: str | None = None
    special_measures: bool = False  # RULES.md 5: school judged special measures/serious
    corporate_assessment: bool = False  # JAR corporate assessment challenge (001 para 8d)
    rules: dict[str, str] = field(default_factory=dict)
    model_version: str = "rules-0"
    needs_review: bool = False
