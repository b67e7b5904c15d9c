"""Step: tell staff. The triage post and urgent alerts are queued rows in the same
transaction as the case, so they survive a crash and go out when Slack is reachable."""

from __future__ import annotations

from intake.steps.context import Context


def notify_staff(ctx: Context) -> None:
    case, c = ctx.case, ctx.classification
    assert case is not None and c is not None
    if ctx.settings.slack_mode != "off" and ctx.settings.slack_triage_channel:
        from bot.notify import enqueue_case_post

        enqueue_case_post(ctx.session, case, ctx.settings)
    from intake.alerts import raise_alert

    if c.safeguarding:
        raise_alert(ctx.session, case, "safeguarding", ctx.settings)
    if c.intent == "withhold_publication":
        raise_alert(ctx.session, case, "withhold", ctx.settings)
