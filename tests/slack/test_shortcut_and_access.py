""""Log as complaint" on any message, and who may do it (staff only, refusals audited)."""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import select

from bot.access import REFUSAL_TEXT, StaffDirectory
from bot.app import web_client
from intake.cases.models import AuditEntry, Case, Message
from intake.settings import Settings
from tests.slack.conftest import GROUP_MEMBER, OUTSIDER, STAFF_GROUP, STAFF_USER, SlackHarness
from tests.slack.fake_slack import FakeSlack

PASTED = {"type": "message", "user": "U0WRITER", "ts": "1700000123.000200",
          "text": "Forwarding this for logging:",
          "attachments": [{"is_share": True, "author_name": "Parent",
                           "text": "My child's nursery inspection report names the wrong "
                                   "setting and the inspector never spoke to the manager. "
                                   "Contact me at <mailto:parent@example.net|parent@example.net>"}]}


async def test_staff_log_any_message_as_a_complaint(slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.message_shortcut(
        "log_as_complaint", user_id=STAFF_USER, channel_id="C0ELSEWHERE", message=PASTED)
    assert reply.status == 200
    await slack_bot.wait_processed(1)
    with slack_bot.store.session() as session:
        [msg] = session.scalars(select(Message)).all()
        assert msg.external_id == "C0ELSEWHERE:1700000123.000200"
        assert msg.disposition == "new_case"
        assert "never spoke to the manager" in (msg.text or "")
        case = session.get(Case, msg.case_id)
        assert case is not None
        reference = case.reference
    [opened] = await slack_bot.fake.wait_for("views.open")
    [updated] = await slack_bot.fake.wait_for("views.update", timeout=10)
    assert updated.params["view_id"] == opened.response["view"]["id"]
    assert reference in json.dumps(updated.params["view"])


async def test_logging_the_same_message_twice_points_to_the_first_case(
        slack_bot: SlackHarness) -> None:
    for _ in range(2):
        await slack_bot.requests.message_shortcut(
            "log_as_complaint", user_id=STAFF_USER, channel_id="C0X", message=PASTED)
    await slack_bot.wait_processed(2)
    with slack_bot.store.session() as session:
        dispositions = sorted(m.disposition for m in session.scalars(select(Message)))
        assert dispositions == ["duplicate", "new_case"]
        assert len(session.scalars(select(Case)).all()) == 1
    updates = await slack_bot.fake.wait_for("views.update", count=2, timeout=10)
    shown = sorted(json.dumps(u.params["view"]) for u in updates)
    assert sum("already logged" in s for s in shown) == 1


async def test_group_member_counts_as_staff(slack_bot: SlackHarness) -> None:
    await slack_bot.requests.message_shortcut(
        "log_as_complaint", user_id=GROUP_MEMBER, channel_id="C0X", message=PASTED)
    await slack_bot.wait_processed(1)
    calls = slack_bot.fake.calls_to("usergroups.users.list")
    assert [c.params["usergroup"] for c in calls] == [STAFF_GROUP]


async def test_non_staff_are_refused_ephemerally_and_the_attempt_is_audited(
        slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.message_shortcut(
        "log_as_complaint", user_id=OUTSIDER, channel_id="C0X", message=PASTED)
    assert reply.status == 200
    [refusal] = await slack_bot.fake.wait_for("chat.postEphemeral")
    assert refusal.params["user"] == OUTSIDER and refusal.params["channel"] == "C0X"
    assert refusal.params["text"] == REFUSAL_TEXT
    await asyncio.sleep(0.2)
    with slack_bot.store.session() as session:
        assert session.scalars(select(Message)).all() == []
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "refused"))
        assert entry.actor == f"slack:{OUTSIDER}"
        assert entry.detail["attempted"] == "log_as_complaint"
        assert entry.at is not None
    assert not slack_bot.fake.calls_to("views.open")


async def test_user_groups_are_resolved_once_and_cached(fake_slack: FakeSlack,
                                                        slack_settings: Settings) -> None:
    staff = StaffDirectory(slack_settings, web_client(slack_settings))
    assert await staff.is_staff(STAFF_USER)
    assert await staff.is_staff(GROUP_MEMBER)
    assert await staff.is_staff(GROUP_MEMBER)
    assert not await staff.is_staff(OUTSIDER)
    assert not await staff.is_staff("")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


async def test_unreachable_slack_refuses_group_members_rather_than_guessing(
        fake_slack: FakeSlack, slack_settings: Settings) -> None:
    fake_slack.down = True
    staff = StaffDirectory(slack_settings, web_client(slack_settings), ttl_seconds=0)
    start = time.monotonic()
    assert not await staff.is_staff(GROUP_MEMBER)
    assert await staff.is_staff(STAFF_USER)  # listed directly: no Slack call needed
    assert time.monotonic() - start < 15
