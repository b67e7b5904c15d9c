"""Step: label the message and extract its fields (RULES.md sections 1-2).

What a phone operator typed into a field is better evidence than what the classifier can
extract from prose, so structured answers overwrite extracted ones.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from intake.classify import ClassifyInput, get_classifier
from intake.metrics import CLASSIFY_SECONDS
from intake.records import Classification, Contact, ParsedMessage
from intake.steps.context import Context


def _merge_contact(first: Contact, second: Contact) -> Contact:
    """Fields from ``first`` win; ``second`` fills the gaps."""
    return Contact(
        name=first.name or second.name, email=first.email or second.email,
        phone=first.phone or second.phone, address=first.address or second.address,
        role=first.role or second.role, email_consent=first.email_consent,
    )


def _overlay_form(c: Classification, parsed: ParsedMessage) -> Classification:
    from intake.channels.phone import parse_date

    form = parsed.structured
    if not form:
        return c
    published: date | None = c.report_published
    if form.get("report_published"):
        published = parse_date(str(form["report_published"]))
    return replace(
        c,
        urn=str(form["urn"]).replace(" ", "").upper() if form.get("urn") else c.urn,
        provider=form.get("provider") or c.provider,
        report_published=published,
        desired_outcome=form.get("desired_outcome") or c.desired_outcome,
        actions_taken=form.get("actions_taken") or c.actions_taken,
        availability=form.get("availability") or c.availability,
    )


def classify_input(parsed: ParsedMessage, channel: str, received_at: datetime) -> ClassifyInput:
    """What the classifier reads of a parsed message."""
    return ClassifyInput(text=parsed.new_text or parsed.text, subject=parsed.subject,
                         channel=channel,  # type: ignore[arg-type]
                         received_at=received_at)


def classify_message(ctx: Context) -> None:
    """Labels from the classifier (prepared for the batch, or classified now), then the
    operator's form on top."""
    assert ctx.parsed is not None
    parsed = ctx.parsed
    if ctx.labels is None:
        item = classify_input(parsed, ctx.message.channel, ctx.message.received_at)
        with CLASSIFY_SECONDS.time():
            ctx.labels = get_classifier().classify(item)
    # A copy: the prepared labels stay as the classifier gave them if the batch is retried.
    result = _overlay_form(replace(ctx.labels), parsed)
    result.contact = _merge_contact(parsed.contact, result.contact)
    ctx.classification = result
