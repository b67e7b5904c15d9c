"""``/complaints`` is answered within Slack's 3 seconds whatever the database does.

The listing is slowed by a deliberately slow stand-in (the real query behind a sleep) so
the answer misses its 1.5 s budget: the ack must still come at once with "Looking that
up…", and the real answer must reach the fake Slack Web API as ``chat.postEphemeral``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot import commands
from intake.rules.working_days import add_working_days
from tests.slack.conftest import OUTSIDER, STAFF_USER, SlackHarness
from tests.slack.test_commands import case_due_on, today

pytestmark = pytest.mark.slack_settings(review_threshold=0.0)

SLOW_SECONDS = 2.5  # longer than the budget, shorter than the test's patience
CHANNEL = "C0OPS"  # where the harness types its commands


def slowed(real: Callable[..., Any], seconds: float = SLOW_SECONDS) -> Callable[..., Any]:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)  # runs in the listener's worker thread, like a slow query
        return real(*args, **kwargs)
    return slow


def direct_to(bot: SlackHarness, user: str) -> list[Any]:
    """Messages the app posted in its direct messages with ``user``."""
    return [c for c in bot.fake.calls_to("chat.postMessage") if c.params.get("channel") == user]


async def due_case(bot: SlackHarness) -> str:
    return await case_due_on(bot, add_working_days(today(), 2))


async def test_fast_answer_comes_in_the_ack_and_nothing_is_posted(
        slack_bot: SlackHarness) -> None:
    reference = await due_case(slack_bot)
    reply = await slack_bot.requests.command("/complaints", user_id=STAFF_USER, text="due")
    assert reply.status == 200 and reply.elapsed < commands.ANSWER_BUDGET_SECONDS
    assert reference in json.dumps(reply.json)
    assert slack_bot.fake.calls_to("chat.postEphemeral") == []


async def test_slow_answer_acks_at_once_then_posts_ephemeral(
        slack_bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = await due_case(slack_bot)
    monkeypatch.setattr(commands, "due_page", slowed(commands.due_page))
    sent = time.monotonic()
    reply = await slack_bot.requests.command("/complaints", user_id=STAFF_USER, text="due")
    print(f"/complaints due, query slowed to {SLOW_SECONDS} s: ack in "
          f"{reply.elapsed * 1000:.0f} ms")
    assert reply.status == 200
    assert reply.elapsed < commands.ANSWER_BUDGET_SECONDS + 0.5  # well within Slack's 3 s
    body = reply.json
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith("Looking that up") and reference not in json.dumps(body)
    [posted] = await slack_bot.fake.wait_for("chat.postEphemeral", timeout=SLOW_SECONDS + 5)
    print(f"answer posted {posted.at - sent:.2f} s after the command")
    assert (posted.params["channel"], posted.params["user"]) == (CHANNEL, STAFF_USER)
    shown = json.dumps(posted.params["blocks"], ensure_ascii=False)
    assert "Due in the next 5 working days* (1)" in posted.params["text"]
    assert f"*{reference}* respond by" in shown
    assert not direct_to(slack_bot, STAFF_USER)  # delivered once, where it was asked


async def test_slow_answer_in_a_channel_the_bot_is_not_in_goes_to_its_messages(
        slack_bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    late = await case_due_on(slack_bot, today() - timedelta(days=10))
    monkeypatch.setattr(commands, "overdue_page", slowed(commands.overdue_page))
    slack_bot.fake.fail("chat.postEphemeral", "channel_not_found")
    reply = await slack_bot.requests.command("/complaints", user_id=STAFF_USER,
                                             text="overdue")
    assert reply.status == 200 and reply.elapsed < commands.ANSWER_BUDGET_SECONDS + 0.5
    assert reply.json["text"].startswith("Looking that up")

    await slack_bot.fake.wait_until(lambda: bool(direct_to(slack_bot, STAFF_USER)),
                                    SLOW_SECONDS + 5, "the answer in the app's messages")
    [posted] = direct_to(slack_bot, STAFF_USER)
    assert late in json.dumps(posted.params["blocks"]) and "Overdue" in posted.params["text"]


async def test_slow_staff_refusal_is_still_answered_and_audited(
        slack_bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget covers the staff check too (a user group lookup can be slow)."""
    real = slack_bot.runner.services.staff.is_staff

    async def slow_is_staff(user: str) -> bool:
        await asyncio.sleep(SLOW_SECONDS)
        return await real(user)
    monkeypatch.setattr(slack_bot.runner.services.staff, "is_staff", slow_is_staff)
    reply = await slack_bot.requests.command("/complaints", user_id=OUTSIDER, text="due")
    assert reply.status == 200 and reply.elapsed < commands.ANSWER_BUDGET_SECONDS + 0.5
    [posted] = await slack_bot.fake.wait_for("chat.postEphemeral", timeout=SLOW_SECONDS + 5)
    assert "Only triage staff" in posted.params["text"]
    assert posted.params["user"] == OUTSIDER


async def test_unreadable_store_is_a_plain_answer(slack_bot: SlackHarness,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT …", {}, Exception("database is locked"))
    monkeypatch.setattr(commands, "due_page", broken)
    reply = await slack_bot.requests.command("/complaints", user_id=STAFF_USER, text="due")
    assert reply.status == 200 and reply.json["text"] == commands.STORE_UNAVAILABLE
