"""The App Home tab: the viewer's open cases, soonest deadline first (issue 5 item 5).

Published with ``views.publish`` each time a person opens the tab, so it is always
current. Staff see their cases and what is overdue across the team; anyone else sees
that the tab is for triage staff (no case details).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.app import BotServices, services
from bot.commands import DUE_WORKING_DAYS, item_line, today_local
from intake.cases.queries import assigned_to, due_page, overdue_page
from intake.letters import format_date

log = logging.getLogger(__name__)

MAX_ROWS = 30


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def home_view(svc: BotServices, user: str) -> dict[str, Any]:
    """The Home tab for a member of staff (blocking: reads the case store)."""
    today = today_local()
    with svc.store.session() as session:
        mine = assigned_to(session, user)
        late = overdue_page(session, today, MAX_ROWS)
        soon = due_page(session, today, DUE_WORKING_DAYS, MAX_ROWS)
        blocks: list[dict[str, Any]] = [_header(f"Your cases ({len(mine)})")]
        if not mine:
            blocks.append(_section("No open cases are assigned to you."))
        for case, d in mine[:MAX_ROWS]:
            due = (f"{d.kind.replace('_', ' ')} *{format_date(d.due_date)}*"
                   + (" :warning: overdue" if d.due_date < today else "")
                   if d and d.due_date else "no deadline pending")
            flag = " :rotating_light:" if case.safeguarding else ""
            blocks.append(_section(f"*{case.reference}*{flag} · {due}\n{case.intent}, "
                                   f"{case.regime}, received "
                                   f"{format_date(case.received_at)}"))
        blocks += [{"type": "divider"}, _header(f"Overdue across the team ({late.total})")]
        blocks.append(_section("\n".join(item_line(i, today) for i in late.items)
                               or "Nothing overdue."))
        blocks += [_header(f"Due in the next {DUE_WORKING_DAYS} working days ({soon.total})"),
                   _section("\n".join(item_line(i, today) for i in soon.items)
                            or "Nothing due.")]
    return {"type": "home", "blocks": blocks[:100]}


def outsider_view() -> dict[str, Any]:
    return {"type": "home", "blocks": [_section(
        "This app is for the complaints triage team. If you need to raise a complaint, "
        "write to the enquiries mailbox.")]}


async def on_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    svc = services(context)
    user = event.get("user", "")
    async with svc.in_flight.track():
        if await svc.staff.is_staff(user):
            view = await asyncio.to_thread(home_view, svc, user)
        else:
            view = outsider_view()
        try:
            await svc.client.views_publish(user_id=user, view=view)
        except (TimeoutError, SlackApiError, OSError) as exc:
            log.warning("could not publish the Home tab: %s", type(exc).__name__)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(on_home_opened)
