"""Step: mail from machines is stored and labelled, never answered (RFC 3834).

Bounces, auto-replies, list mail and spam verdicts end here with their own disposition.
A bounce of one of our own letters is matched to it and flagged on its case.
"""

from __future__ import annotations

from intake.cases.audit import SYSTEM, audit
from intake.cases.models import BOUNCE
from intake.steps.context import Context


def screen_machines(ctx: Context) -> None:
    if ctx.message.channel != "email":
        return
    from intake.email.bounces import flag_bounce
    from intake.email.screen import screen

    assert ctx.parsed is not None
    # The raw bytes only for spamd (the pipeline may have left them unloaded).
    raw = ctx.message.raw if ctx.settings.spamd_host else None
    verdict = screen(ctx.parsed, ctx.message.sender, ctx.settings, raw=raw)
    if verdict is None:
        return
    if verdict.disposition == BOUNCE:
        letter = flag_bounce(ctx.session, ctx.parsed)
        if letter is not None:
            ctx.message.case_id = letter.case_id
            audit(ctx.session, SYSTEM, "letter_bounced", letter.case.reference,
                  letter_id=letter.id, kind=letter.kind)
    ctx.finish(verdict.disposition, verdict.reason)
