"""Step: tell staff. The triage post and urgent alerts are queued rows in the same
transaction as the case, so they survive a crash and go out when Slack is reachable."""

from __future__ import annotations

from intake.cases.models import Letter
from intake.steps.context import Context


def letter_note(letter: Letter) -> str:
    """One line for the case thread: which letter, how it goes, and whether it waits."""
    how = "by email" if letter.delivery == "email" else "for post (printable copy below)"
    if letter.status == "held":
        return f"The {letter.kind} letter is held ({letter.hold_reason}): approve it to send."
    return f"The {letter.kind} letter is queued {how}."


def notify_staff(ctx: Context) -> None:
    case, c = ctx.case, ctx.classification
    assert case is not None and c is not None
    if ctx.settings.slack_mode != "off" and ctx.settings.slack_triage_channel:
        from bot.notify import enqueue_case_post, enqueue_thread_note

        # The post shows the case's labels, deadlines and proposed links, which the batch
        # holds as rows not yet inserted: write them now, and read the case's lists again.
        ctx.batch.flush(ctx.session)
        ctx.session.expire(case, ["labels", "deadlines"])
        enqueue_case_post(ctx.session, case, ctx.settings)
        for letter in ctx.letters:  # outbound letters appear in the case's thread
            enqueue_thread_note(ctx.session, case, letter_note(letter), purpose="letter",
                                settings=ctx.settings)
    # Inserted with the batch's cases (same transaction); the notices name the alert's
    # id, so they are queued at the batch's flush.
    if c.safeguarding:
        ctx.batch.alert(ctx.session, case, "safeguarding", ctx.settings)
    if c.intent == "withhold_publication":
        ctx.batch.alert(ctx.session, case, "withhold", ctx.settings)
