"""``/complaints``: find a case, list what is due or overdue, one's own cases, statistics.

Replies are ephemeral. Slack wants the command answered within 3 seconds whatever the
database is doing, so the answer gets a budget (:data:`ANSWER_BUDGET_SECONDS` from the
request): ready in time, it goes back in the command's own HTTP answer; otherwise the ack
says "Looking that up…" and the answer follows with ``chat.postEphemeral`` (or, where the
bot cannot post, in the app's direct messages with the person). Only triage staff may
look cases up; anyone gets the help text. Replies carry structured fields only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.access import REFUSAL_TEXT, audit_refusal
from bot.app import BotServices, services
from bot.errors import SLACK_CALL_FAILED
from bot.triage import case_blocks
from intake.cases.actions import ActionError, find_case
from intake.cases.queries import DueItem, DuePage, assigned_to, due_page, overdue_page, stats
from intake.letters import format_date
from intake.rules.deadlines import LONDON

log = logging.getLogger(__name__)

COMMAND = "/complaints"
DUE_WORKING_DAYS = 5  # issue 5 item 5: "due" means the next 5 working days
MAX_LINES = 40
# Half of Slack's 3 seconds, measured from when the request reached the listener: the rest
# is for the network both ways and for Bolt.
ANSWER_BUDGET_SECONDS = 1.5
LOOKING_UP = "Looking that up… the answer will appear here in a moment (only you see it)."
# Lookups get threads of their own: the default pool is shared with work after other acks
# (a burst of phone submissions polls for its outcomes there), and a lookup queued behind
# that would spend its budget waiting for a thread rather than for the database.
LOOKUP_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="complaints-lookup")
STORE_UNAVAILABLE = ("The case store cannot be read just now. Try again in a minute; "
                     "nothing has changed.")

HELP = (
    "*/complaints* finds cases and lists work (only you see the answer):\n"
    "• `/complaints case REF`: one case, e.g. `/complaints case CMP-2026-00042`\n"
    f"• `/complaints due`: deadlines in the next {DUE_WORKING_DAYS} working days\n"
    "• `/complaints overdue`: deadlines that have passed and were not met\n"
    "• `/complaints mine`: open cases assigned to you, by deadline\n"
    "• `/complaints stats`: open cases, review work and lateness in numbers\n"
    "• `/complaints help`: this list"
)


def today_local() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


def _text(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section",
                                      "text": {"type": "mrkdwn", "text": text[:2900]}}]}


def item_line(item: DueItem, today: date) -> str:
    d, case = item.deadline, item.case
    late = " :warning: overdue" if d.due_date and d.due_date < today else ""
    who = f" · <@{case.assignee}>" if case.assignee else " · unassigned"
    flag = " :rotating_light:" if case.safeguarding else ""
    return (f"*{case.reference}*{flag} {item.label} {format_date(d.due_date)}{late} "
            f"({case.intent}, {case.regime}, `{d.rule}`){who}")


def _listing(title: str, page: DuePage, today: date, empty: str) -> dict[str, Any]:
    if not page.items:
        return _text(f"*{title}*\n{empty}")
    lines = [item_line(i, today) for i in page.items]
    if page.total > len(page.items):
        lines.append(f"…and {page.total - len(page.items)} more.")
    return _text(f"*{title}* ({page.total})\n" + "\n".join(lines))


def reply_case(session: Session, user: str, arg: str) -> dict[str, Any]:
    if not arg:
        return _text("Give a reference: `/complaints case CMP-2026-00042`.")
    if len(arg.split()) > 1:
        return _text("Give one reference: `/complaints case CMP-2026-00042`.")
    case = find_case(session, arg)
    blocks = case_blocks(case, with_actions=False)
    return {"text": f"Case {case.reference}", "blocks": blocks}


def reply_due(session: Session, user: str, arg: str) -> dict[str, Any]:
    today = today_local()
    page = due_page(session, today, DUE_WORKING_DAYS, MAX_LINES)
    return _listing(f"Due in the next {DUE_WORKING_DAYS} working days", page, today,
                    "Nothing due.")


def reply_overdue(session: Session, user: str, arg: str) -> dict[str, Any]:
    today = today_local()
    return _listing("Overdue", overdue_page(session, today, MAX_LINES), today,
                    "Nothing overdue.")


def reply_mine(session: Session, user: str, arg: str) -> dict[str, Any]:
    found = assigned_to(session, user)
    if not found:
        return _text("*Your cases*\nNo open cases are assigned to you.")
    lines = []
    for case, d in found[:MAX_LINES]:
        due = f"{d.kind.replace('_', ' ')} {format_date(d.due_date)}" if d and d.due_date \
            else "no deadline pending"
        lines.append(f"*{case.reference}* {due} ({case.intent}, {case.regime})")
    return _text(f"*Your cases* ({len(found)})\n" + "\n".join(lines))


def reply_stats(session: Session, user: str, arg: str) -> dict[str, Any]:
    s = stats(session, today_local())
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"
    return _text("\n".join([
        f"*Open cases*: {s.open_cases} (closed: {s.closed_cases})",
        f"By intent: {counts(s.by_intent)}",
        f"By regime: {counts(s.by_regime)}",
        f"Safeguarding open: {s.safeguarding_open}",
        f"Needing label review: {s.needs_review} · letters held: {s.held_letters}",
        f"Cases with an overdue deadline: {s.overdue} · unassigned: {s.unassigned}",
    ]))


REPLIES: dict[str, Callable[[Session, str, str], dict[str, Any]]] = {
    "case": reply_case, "due": reply_due, "overdue": reply_overdue, "mine": reply_mine,
    "stats": reply_stats,
}


def answer(svc: BotServices, user: str, text: str) -> dict[str, Any]:
    """The reply to ``/complaints <text>`` for a member of staff (blocking)."""
    word, _, arg = (text or "").strip().partition(" ")
    reply = REPLIES.get(word.lower())
    if reply is None:
        prefix = f"I don't know `{word}`.\n" if word and word.lower() != "help" else ""
        return _text(prefix + HELP)
    try:
        with svc.store.session() as session:
            return reply(session, user, arg.strip())
    except ActionError as exc:
        return _text(exc.message)
    except SQLAlchemyError as exc:
        log.warning("/complaints %s could not read the case store: %s", word.lower(),
                    type(exc).__name__)
        return _text(STORE_UNAVAILABLE)


async def _reply_for(svc: BotServices, user: str, text: str) -> tuple[dict[str, Any], bool]:
    """The reply for ``user``, and whether it is a refusal (audited after the ack)."""
    if not await svc.staff.is_staff(user):
        return {"text": REFUSAL_TEXT}, True
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(LOOKUP_THREADS, answer, svc, user, text), False


async def _deliver_late(svc: BotServices, body: dict[str, Any], reply: dict[str, Any]) -> None:
    """Send an answer that missed the ack: ephemeral where the command was typed, or in
    the app's direct messages when the bot cannot post there (a channel it is not in)."""
    user, channel = body.get("user_id", ""), body.get("channel_id")
    try:
        if channel:
            await svc.client.chat_postEphemeral(channel=channel, user=user, **reply)
            return
    except SLACK_CALL_FAILED as exc:
        log.info("/complaints answer not posted in the channel (%s); sending it directly",
                 type(exc).__name__)
    try:
        await svc.client.chat_postMessage(channel=user, **reply)
    except SLACK_CALL_FAILED as exc:
        log.warning("could not deliver a /complaints answer: %s", type(exc).__name__)


async def _ack_in_time(ack: AsyncAck, work: asyncio.Task[tuple[dict[str, Any], bool]],
                       started: float) -> bool:
    """Ack with the answer if it is ready within the budget, else at once with "Looking
    that up…". True when the answer went in the ack."""
    budget = ANSWER_BUDGET_SECONDS - (time.monotonic() - started)
    done, _ = await asyncio.wait({work}, timeout=max(budget, 0.0))
    if work in done:
        await ack(response_type="ephemeral", **work.result()[0])
        return True
    await ack(response_type="ephemeral", **_text(LOOKING_UP))
    return False


async def on_complaints(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    started = time.monotonic()
    svc = services(context)
    user, text = body.get("user_id", ""), body.get("text", "")
    word = (text or "").strip().split(" ")[0].lower()
    if word in ("", "help") or word not in REPLIES:
        await ack(response_type="ephemeral", **answer(svc, user, text))
        return
    async with svc.in_flight.track():
        work = asyncio.create_task(_reply_for(svc, user, text))
        in_ack = await _ack_in_time(ack, work, started)
        reply, refused = await work
        if not in_ack:
            log.info("/complaints %s answered after the ack (%.1f s)", word,
                     time.monotonic() - started)
            await _deliver_late(svc, body, reply)
        if refused:
            log.info("refused /complaints %s by %s: not triage staff", word, user)
            await asyncio.to_thread(audit_refusal, svc.store, user, f"complaints {word}", None)


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(on_complaints)
