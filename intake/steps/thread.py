"""Step: a reply to one of our letters joins its case instead of opening a new one.

It joins when it threads by headers, or when its subject names the case and it comes from
the case's complainant (PRODUCT.md, Trust). A subject reference alone, from someone else,
opens a new case with a proposed link (done in open_case).
"""

from __future__ import annotations

from intake.cases.audit import SYSTEM, audit
from intake.cases.models import REPLY
from intake.scan import flag_case
from intake.steps.context import Context


def join_thread(ctx: Context) -> None:
    if ctx.message.channel != "email":
        return
    from intake.email.threading import find_case

    assert ctx.parsed is not None
    match = find_case(ctx.session, ctx.parsed, ctx.message.sender)
    if match is None:
        return
    case = match.case
    ctx.message.case_id = case.id
    ctx.case = case
    flag_case(ctx.session, case, ctx.message)  # quarantined attachments (intake/scan.py)
    audit(ctx.session, SYSTEM, "reply_joined", case.reference, message_id=ctx.message.id,
          how=match.how)
    if ctx.settings.slack_mode != "off" and ctx.settings.slack_triage_channel:
        from bot.notify import enqueue_thread_note

        enqueue_thread_note(ctx.session, case, "New reply from the complainant "
                            f"(message {ctx.message.id}); open the case to read it.",
                            purpose="reply", settings=ctx.settings)
    ctx.finish(REPLY, f"joined {case.reference} by {match.how}")
