"""Turn labels, confidences and extracted fields into one Classification.

Both classifiers (keyword baseline and trained pipeline) end here, so the confidence keys,
the review rule and the extracted fields are the same whichever produced the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from intake.classify import ClassifyInput
from intake.records import Classification
from intake.settings import get_settings
from nlp.extract import extract
from nlp.labels import ASPECT_INTENTS
from nlp.language import is_english

# Enough text to find every field in a long letter; a 1 MB paste gains nothing after this.
MAX_EXTRACT_CHARS = 50_000


@dataclass
class Labels:
    """What a classifier decided, before fields are attached."""

    intent: str
    aspects: list[str]
    inspectorates: list[str]
    regime: str
    safeguarding: bool
    confidence: dict[str, float] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)


def full_text(item: ClassifyInput) -> str:
    """Subject and body as one text: the subject often says the most ("Withhold report")."""
    subject = (item.subject or "").strip()
    body = item.text or ""
    return f"{subject}\n\n{body}" if subject else body


def received_date(item: ClassifyInput) -> date:
    """The local date the message reached us (RULES.md 3: dates are Europe/London)."""
    return item.received_at.astimezone(ZoneInfo(get_settings().timezone)).date()


def not_english(labels: Labels) -> Labels:
    """Another language or no words: ``enquiry`` with low confidence, for a person to read."""
    return Labels(
        intent="enquiry", aspects=[], inspectorates=[], regime="ofsted",
        safeguarding=labels.safeguarding,
        confidence={"intent:enquiry": 0.2, "regime:ofsted": 0.2,
                    "safeguarding": labels.confidence.get("safeguarding", 0.5)},
        rules={**labels.rules, "intent": "language.not_english", "regime": "language.not_english"},
    )


def build(item: ClassifyInput, labels: Labels, version: str, *,
          phones: list[str] | None = None) -> Classification:
    """Attach extracted fields and the review decision to a classifier's labels."""
    text = full_text(item)
    english = is_english(text)
    if not english:
        labels = not_english(labels)
    if labels.intent not in ASPECT_INTENTS:
        labels.aspects = []
    settings = get_settings()
    found = extract(text[:MAX_EXTRACT_CHARS], received_date(item),
                    own_addresses=tuple(settings.mailboxes), phones=phones)
    threshold = settings.review_threshold
    needs_review = (not english) or any(v < threshold for v in labels.confidence.values())
    return Classification(
        intent=labels.intent,
        aspects=sorted(labels.aspects),
        inspectorates=sorted(labels.inspectorates),
        regime=labels.regime,
        safeguarding=labels.safeguarding,
        confidence={k: round(float(v), 4) for k, v in sorted(labels.confidence.items())},
        urn=found.urn,
        report_published=found.report_published,
        draft_received=found.draft_received,
        inspection_dates=found.inspection_dates,
        provider=found.provider,
        contact=found.contact,
        desired_outcome=found.desired_outcome,
        actions_taken=found.actions_taken,
        availability=found.availability,
        special_measures=found.special_measures,
        corporate_assessment=found.corporate_assessment,
        rules=dict(labels.rules),
        model_version=version,
        needs_review=needs_review,
    )
