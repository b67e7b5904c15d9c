"""Step: choose the letter, decide where it goes, hold it when a person must look first.

PRODUCT.md, "Letters": every case gets exactly one main letter (the acknowledgement for a
complaint, or the single letter for its intent). When a label is below the review
threshold and triage staff are configured, that letter is held for approval and a short
neutral receipt goes at once instead. Email intake answers the sender (Reply-To, else
From), never a machine; phone intake answers the email the caller consented to, otherwise
a printable letter for post; Slack intake holds an email letter for staff approval, or
attaches a printable letter to the case thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from intake.cases.audit import SYSTEM
from intake.cases.models import Letter
from intake.letters import (
    LetterInput,
    RenderedLetter,
    letter_kind_for,
    missing_information,
    render_letter,
    render_printable,
)
from intake.records import Contact
from intake.steps.context import Context, id_of
from intake.switches import PAUSED_REASON, letters_paused

# The one hold that PRODUCT.md lets lapse at the acknowledgement deadline (reminders).
REVIEW_REASON = "labels below the review threshold: staff review first"


@dataclass(frozen=True)
class Destination:
    delivery: str  # "email" or "post"
    to: str | None
    hold_reason: str | None = None


def staff_configured(ctx: Context) -> bool:
    return ctx.settings.slack_mode != "off" and bool(ctx.settings.slack_staff)


def destination(ctx: Context) -> Destination:
    """Where the main letter goes, and whether the channel itself requires a hold."""
    from intake.email.can_acknowledge import can_acknowledge

    assert ctx.parsed is not None and ctx.classification is not None
    channel = ctx.message.channel
    if channel == "slack":
        email = ctx.classification.contact.email
        if email:
            return Destination("email", email, "pasted in Slack: staff approve before sending")
        return Destination("post", None)
    address = ctx.parsed.reply_address
    if channel == "phone":
        return Destination("email", address) if address else Destination("post", None)
    ok, why = can_acknowledge(ctx.session, address, ctx.parsed, ctx.settings)
    if not ok:
        return Destination("email", address, why)
    return Destination("email", address)


def _input(ctx: Context, contact: Contact, held: bool) -> LetterInput:
    assert ctx.case and ctx.classification and ctx.deadlines and ctx.parsed
    missing = missing_information(ctx.classification, contact, ctx.parsed.new_text)
    return LetterInput(reference=ctx.case.reference, channel=ctx.message.channel,
                       received_at=ctx.case.received_at, classification=ctx.classification,
                       deadlines=ctx.deadlines, complainant=contact, missing=missing,
                       subject=ctx.parsed.subject, held=held)


def _letter_row(ctx: Context, rendered: RenderedLetter, dest: Destination, status: str,
                hold_reason: str | None, html: str) -> Letter:
    assert ctx.case is not None and ctx.deadlines is not None
    from intake.email.mime import valid_message_id
    from intake.email.outbox import fresh_message_id, mark_fresh

    letter = Letter(kind=rendered.kind, status=status, delivery=dest.delivery,
                    recipient=dest.to, subject=rendered.subject, body_text=rendered.text,
                    body_html=html, template_version=rendered.template_version,
                    rule_version=ctx.deadlines.rule_version, hold_reason=hold_reason,
                    in_reply_to=ctx.parsed.message_id if ctx.parsed else None)
    if status == "queued" and dest.delivery == "email" and dest.to:
        # As the outbox will set them when it queues the letter, so its INSERT has them.
        letter.message_id = fresh_message_id(ctx.case, ctx.settings)
        letter.in_reply_to = valid_message_id(letter.in_reply_to)
    ctx.case.letters.append(letter)  # inserted with the batch's rows (``Batch.flush``)
    mark_fresh(ctx.session, letter)
    ctx.letters.append(letter)
    return letter


def wants_large_print(ctx: Context) -> bool:
    """The caller asked the operator for large print (phone form)."""
    from intake.channels.phone import parse_bool

    assert ctx.parsed is not None
    try:
        return parse_bool(ctx.parsed.structured.get("large_print"))
    except ValueError:
        return False


def _paused(ctx: Context) -> bool:
    """Letters paused, read once per write transaction."""
    paused = ctx.batch.switches.get("letters_paused")
    if paused is None:
        paused = ctx.batch.switches["letters_paused"] = letters_paused(ctx.session,
                                                                       ctx.settings)
    return paused


def _hold_reason(ctx: Context, dest: Destination) -> str | None:
    assert ctx.classification is not None
    if _paused(ctx):
        return PAUSED_REASON
    if dest.hold_reason:
        return dest.hold_reason
    if dest.delivery == "email" and not dest.to:
        return "no address to reply to"
    if ctx.classification.needs_review and staff_configured(ctx):
        return REVIEW_REASON
    return None


def prepare_letter(ctx: Context) -> None:
    """Render and store the main letter (and a receipt when it is held for review)."""
    assert ctx.case is not None and ctx.classification is not None
    contact = ctx.classification.contact
    dest = destination(ctx)
    hold = _hold_reason(ctx, dest)
    data = _input(ctx, contact, held=hold is not None)
    kind = letter_kind_for(ctx.classification.intent)
    large = wants_large_print(ctx)
    rendered = render_letter(kind, data, large_print=large)
    html = render_printable(data, kind, large_print=large) if dest.delivery == "post" \
        else rendered.html
    status = "held" if hold else "queued"
    main = _letter_row(ctx, rendered, dest, status, hold, html)
    ctx.batch.audit(SYSTEM, "letter_prepared", ctx.case.reference, letter_id=id_of(main),
                    kind=kind, status=status, delivery=dest.delivery, hold_reason=hold)
    review_hold = hold == REVIEW_REASON
    if review_hold and dest.delivery == "email" and dest.to:
        receipt = render_letter("receipt", data)
        row = _letter_row(ctx, receipt, dest, "queued", None, receipt.html)
        ctx.batch.audit(SYSTEM, "letter_prepared", ctx.case.reference, letter_id=id_of(row),
                        kind="receipt", status="queued", delivery="email")


def queue_letters(ctx: Context) -> None:
    """Put queued email letters in the outbox; printable ones go to the case thread."""
    from intake.letters_flow import dispatch_letter

    assert ctx.case is not None
    for letter in ctx.letters:
        if letter.status == "queued":
            dispatch_letter(ctx.session, ctx.case, letter, ctx.settings)
