"""What happened to a message taken in from Slack, shown back to the person who logged it.

The phone modal and the "Log as complaint" shortcut store the input, acknowledge Slack, and
then wait here (off the event loop) for the pipeline to process the message, so the
operator sees the case reference, the labels and where the letter goes (issue 5 item 4).
Only structured fields are shown, never the complaint's text.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from intake.cases.db import Store
from intake.cases.models import FAILED, PENDING, Case, Message

WAIT_SECONDS = 20.0


@dataclass
class IntakeOutcome:
    """The structured facts of one processed (or still pending) message."""

    message_id: int
    disposition: str
    reference: str | None = None
    reason: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    deadlines: dict[str, Any] = field(default_factory=dict)
    letters: list[dict[str, str]] = field(default_factory=list)


def load_outcome(store: Store, message_id: int) -> IntakeOutcome:
    with store.session() as session:
        msg = session.get(Message, message_id)
        if msg is None:
            return IntakeOutcome(message_id, "missing")
        out = IntakeOutcome(message_id, msg.disposition, reason=msg.reason)
        case = session.get(Case, msg.case_id) if msg.case_id else None
        if case is not None:
            out.reference = case.reference
            out.labels = {"intent": case.intent, "aspects": case.aspects,
                          "inspectorates": case.inspectorates, "regime": case.regime,
                          "safeguarding": case.safeguarding,
                          "needs_review": case.needs_review}
            out.deadlines = dict(case.deadline_summary or {})
            out.letters = [{"kind": lt.kind, "status": lt.status, "delivery": lt.delivery}
                           for lt in case.letters]
        return out


async def wait_for_outcome(store: Store, message_id: int, *, timeout: float = WAIT_SECONDS,
                           poll: float = 0.25) -> IntakeOutcome:
    """Poll until the pipeline has dealt with the message, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        out = await asyncio.to_thread(load_outcome, store, message_id)
        if out.disposition not in (PENDING, FAILED) or time.monotonic() >= deadline:
            return out
        await asyncio.sleep(poll)


def letter_line(letters: list[dict[str, str]]) -> str:
    """Where the acknowledgement goes, in words an operator understands."""
    if not letters:
        return "No letter for this message."
    parts = []
    for lt in letters:
        kind = lt["kind"].replace("_", " ")
        if lt["status"] == "held":
            parts.append(f"The {kind} is held for a member of staff to approve.")
        elif lt["delivery"] == "post":
            parts.append(f"The {kind} goes by post: a printable copy is attached to the "
                         "case thread in the triage channel.")
        else:
            parts.append(f"The {kind} is being sent by email ({lt['status']}).")
    return " ".join(parts)


def outcome_lines(out: IntakeOutcome) -> list[str]:
    """Plain facts: reference, labels, dates, letter; or why there is no case."""
    if out.disposition in (PENDING, FAILED):
        return [f"Stored safely as message {out.message_id}. It is still being processed; "
                "the case will appear in the triage channel."]
    if out.disposition == "quarantined":
        return [f"Stored as message {out.message_id} but it could not be processed "
                f"({out.reason or 'no reason recorded'}); staff will look at it."]
    if out.reference is None:
        return [f"Stored as message {out.message_id} ({out.disposition}); no case opened."]
    if out.disposition == "duplicate":
        return [f"This was already logged as case *{out.reference}*."]
    lab = out.labels
    lines = [f"Case *{out.reference}* opened.",
             f"Intent: {lab['intent']}; regime: {lab['regime']}",
             f"Aspects: {', '.join(lab['aspects']) or 'none'}",
             f"Inspectorates: {', '.join(lab['inspectorates']) or 'none'}"]
    if lab.get("safeguarding"):
        lines.append(":rotating_light: Safeguarding: the duty team has been alerted.")
    if lab.get("needs_review"):
        lines.append("Some labels are uncertain: triage staff will review them.")
    dates = [f"{k.replace('_', ' ')} {v}" for k, v in out.deadlines.items()
             if k in ("acknowledge_by", "respond_by", "time_limit_ends") and v]
    if dates:
        lines.append("Dates: " + "; ".join(dates))
    lines.append(letter_line(out.letters))
    return lines


def outcome_view(out: IntakeOutcome, title: str = "Complaint logged") -> dict[str, Any]:
    """A modal showing the outcome (used with views.update)."""
    return {"type": "modal", "callback_id": "intake_outcome",
            "title": {"type": "plain_text", "text": title[:24]},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}
                       for line in outcome_lines(out)]}
