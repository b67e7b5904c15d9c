"""Slack notices queued by the pipeline: rows only, inside the caller's transaction.

Nothing here touches the network. The pipeline adds :class:`SlackPost` rows in the same
transaction as the case, so a post is never lost and never sent for a case that was rolled
back; :mod:`bot.post_queue` sends them when Slack is reachable, at Slack's pace.

Posts carry structured fields only (reference, labels, dates, rule), never the complaint's
text or anyone's name (PRODUCT.md, Personal data; ``004_…`` para 80).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.cases.models import Alert, Case, Letter, SlackPost
from intake.settings import Settings

# Lower goes first; alerts jump the queue (issue 5 item 7).
PRIORITY = {"alert": 0, "triage_update": 3, "digest": 4, "triage": 5, "thread": 6,
            "letter": 6}


def case_content(case: Case) -> tuple[list[dict[str, Any]], str]:
    """Block Kit for the case post, and its notification text (structured fields only)."""
    try:
        from bot.triage import case_blocks
    except ImportError:
        blocks = summary_blocks(case)
    else:
        blocks = case_blocks(case)
    return blocks, f"Case {case.reference}: {case.intent}, {case.regime}"


def summary_blocks(case: Case) -> list[dict[str, Any]]:
    """A minimal structured summary until the triage blocks exist."""
    dl = case.deadline_summary or {}
    facts = [
        f"*{case.reference}* ({case.channel})",
        f"Intent: {case.intent}  |  Regime: {case.regime}",
        f"Aspects: {', '.join(case.aspects) or 'none'}",
        f"Inspectorates: {', '.join(case.inspectorates) or 'none'}",
    ]
    if case.urn:
        facts.append(f"URN: {case.urn}")
    if case.safeguarding:
        facts.append(":rotating_light: Safeguarding")
    for kind in ("acknowledge_by", "respond_by", "time_limit_ends"):
        if dl.get(kind):
            facts.append(f"{kind.replace('_', ' ').capitalize()}: {dl[kind]}")
    if dl.get("rule"):
        facts.append(f"Rule: {dl['rule']}")
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}}]


def _queue(session: Session, method: str, payload: dict[str, Any], *, case: Case | None,
           purpose: str, priority: int | None = None) -> SlackPost:
    post = SlackPost(method=method, payload=payload, case_id=case.id if case else None,
                     purpose=purpose, priority=PRIORITY.get(purpose, 6)
                     if priority is None else priority)
    session.add(post)
    return post


def enqueue_case_post(session: Session, case: Case, settings: Settings) -> None:
    """The case's triage post: a new message, or an update once it has been posted."""
    channel = case.slack_channel or settings.slack_triage_channel
    if not channel:
        return
    session.flush()  # the case needs its id for the row
    blocks, text = case_content(case)
    if case.slack_ts:
        _queue(session, "chat.update", {"channel": channel, "ts": case.slack_ts,
                                        "blocks": blocks, "text": text},
               case=case, purpose="triage_update")
    else:
        _queue(session, "chat.postMessage", {"channel": channel, "blocks": blocks,
                                             "text": text}, case=case, purpose="triage")


def enqueue_thread_note(session: Session, case: Case, text: str, *, purpose: str,
                        settings: Settings) -> None:
    """A short note in the case's thread (threaded when the triage post is known).

    ``text`` must be structured (references, counts, labels), never complaint text.
    """
    channel = case.slack_channel or settings.slack_triage_channel
    if not channel:
        return
    session.flush()
    _queue(session, "chat.postMessage", {"channel": channel, "text": text,
                                         "_thread_of_case": True},
           case=case, purpose=purpose, priority=PRIORITY["thread"])


def enqueue_printable_letter(session: Session, case: Case, letter: Letter,
                             settings: Settings) -> None:
    """Attach the letter as a file in the case thread, for staff to print and post."""
    channel = case.slack_channel or settings.slack_triage_channel
    if not channel:
        return
    session.flush()
    _queue(session, "files.upload", {
        "channel": channel, "_letter_id": letter.id, "_thread_of_case": True,
        "filename": f"{case.reference}-{letter.kind}.txt",
        "title": f"{case.reference} {letter.kind.replace('_', ' ')} (print and post)",
        "initial_comment": f"Printable {letter.kind.replace('_', ' ')} for {case.reference}: "
                           "the caller gave no email for letters, so this goes by post.",
    }, case=case, purpose="letter")


def enqueue_alert(session: Session, case: Case, alert: Alert, settings: Settings) -> None:
    """An urgent alert to the triage channel, ahead of everything else queued."""
    channel = settings.slack_triage_channel
    if not channel:
        return
    session.flush()
    mention = f"<!subteam^{settings.slack_alert_group}> " if settings.slack_alert_group else ""
    text = (f"{mention}:rotating_light: URGENT {alert.kind}: case {case.reference} "
            f"({case.intent}, regime {case.regime}) needs attention now.")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"alert:{alert.id}", "elements": [
            {"type": "button", "action_id": "ack_alert", "value": str(alert.id),
             "style": "danger", "text": {"type": "plain_text", "text": "Acknowledge"}}]},
    ]
    _queue(session, "chat.postMessage", {"channel": channel, "text": text, "blocks": blocks},
           case=case, purpose="alert")
