"""The App Home tab: published with views.publish when a person opens it."""

from __future__ import annotations

import asyncio
import json

import pytest

from intake.cases import actions
from tests.slack.conftest import OUTSIDER, STAFF_USER, SlackHarness
from tests.slack.triage_helpers import new_case

# No acknowledgement held for review, whatever the classifier's confidence: a held one is
# rightly "due", and these tests are about other dates.
pytestmark = pytest.mark.slack_settings(review_threshold=0.0)


def home_event(user: str, tab: str = "home") -> dict[str, str]:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab}


async def test_home_lists_the_viewers_cases_by_deadline(slack_bot: SlackHarness) -> None:
    mine = await new_case(slack_bot)
    theirs = await new_case(slack_bot)

    def give() -> None:
        with slack_bot.store.session() as s:
            actions.assign(s, actions.find_case(s, mine.reference), "staff:U0X", STAFF_USER)
            actions.assign(s, actions.find_case(s, theirs.reference), "staff:U0X", "U0ELSE")
    await asyncio.to_thread(give)
    reply = await slack_bot.requests.event(home_event(STAFF_USER))
    assert reply.status == 200
    [call] = await slack_bot.fake.wait_for("views.publish")
    assert call.params["user_id"] == STAFF_USER
    view = call.params["view"]
    assert view["type"] == "home"
    text = json.dumps(view, ensure_ascii=False)
    assert "Your cases (1)" in text and mine.reference in text
    assert theirs.reference not in text  # not mine, and nothing due or overdue yet
    assert "respond by" in text
    assert "shouted" not in text and "Dawn Fenwick" not in text


async def test_home_for_someone_not_on_the_team_shows_no_cases(
        slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    await slack_bot.requests.event(home_event(OUTSIDER))
    [call] = await slack_bot.fake.wait_for("views.publish")
    text = json.dumps(call.params["view"])
    assert call.params["user_id"] == OUTSIDER
    assert case.reference not in text and "triage team" in text


async def test_messages_tab_is_left_alone(slack_bot: SlackHarness) -> None:
    await slack_bot.requests.event(home_event(STAFF_USER, tab="messages"))
    await asyncio.sleep(0.3)
    assert slack_bot.fake.calls_to("views.publish") == []
