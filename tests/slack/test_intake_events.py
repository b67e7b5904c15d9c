"""Slack intake over real HTTP: signed events become cases; bots, edits, retries do not."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import select

from intake.cases.models import AuditEntry, Case, Message
from tests.slack.conftest import INTAKE_CHANNEL, SlackHarness

COMPLAINT = ("I am the headteacher of Oakfield Primary (URN 123456). The lead inspector was "
             "rude to staff during our inspection on 3 and 4 March and the report published "
             "on 20 March is factually wrong. Please reply to head@oakfield.example.org")


def message_event(text: str = COMPLAINT, *, user: str = "U0PERSON",
                  channel: str = INTAKE_CHANNEL, **extra: object) -> dict[str, object]:
    return {"type": "message", "channel": channel, "user": user, "text": text,
            "ts": f"{time.time():.6f}", "channel_type": "channel", **extra}


def rows(bot: SlackHarness) -> list[Message]:
    with bot.store.session() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def cases(bot: SlackHarness) -> list[Case]:
    with bot.store.session() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


async def test_intake_channel_message_becomes_a_case(slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.event(message_event(), event_id="Ev0001")
    assert reply.status == 200
    await slack_bot.wait_processed(1)
    [msg] = rows(slack_bot)
    assert (msg.channel, msg.external_id, msg.sender) == ("slack", "Ev0001", "U0PERSON")
    assert msg.disposition == "new_case"
    assert "rude to staff" in (msg.text or "")
    [case] = cases(slack_bot)
    assert case.channel == "slack"


async def test_direct_message_to_the_bot_becomes_a_case(slack_bot: SlackHarness) -> None:
    event = message_event(channel="D0DM", channel_type="im")
    assert (await slack_bot.requests.event(event)).status == 200
    await slack_bot.wait_processed(1)
    assert [m.disposition for m in rows(slack_bot)] == ["new_case"]


async def test_messages_elsewhere_and_thread_replies_are_ignored(
        slack_bot: SlackHarness) -> None:
    other = message_event(channel="C0RANDOM")
    parent = message_event()
    reply = message_event(thread_ts=parent["ts"])
    for event in (other, reply):
        assert (await slack_bot.requests.event(event)).status == 200
    await asyncio.sleep(0.5)
    assert rows(slack_bot) == []


@pytest.mark.parametrize("extra", [
    {"bot_id": "B0BOT", "subtype": "bot_message"},  # our own bot
    {"bot_id": "B0OTHER"},  # another app posting as a bot
    {"subtype": "channel_join"},
])
async def test_bot_and_system_messages_never_become_cases(slack_bot: SlackHarness,
                                                          extra: dict[str, str]) -> None:
    assert (await slack_bot.requests.event(message_event(**extra))).status == 200
    await asyncio.sleep(0.5)
    assert rows(slack_bot) == []


async def test_slack_retry_never_creates_a_second_case(slack_bot: SlackHarness) -> None:
    event = message_event()
    first = await slack_bot.requests.event(event, event_id="EvRETRY")
    again = await slack_bot.requests.event(event, event_id="EvRETRY", retry_num=1)
    assert first.status == again.status == 200
    await slack_bot.wait_processed(2)
    dispositions = sorted(m.disposition for m in rows(slack_bot))
    assert dispositions == ["duplicate", "new_case"]
    assert len(cases(slack_bot)) == 1
    dup = next(m for m in rows(slack_bot) if m.disposition == "duplicate")
    assert dup.case_id == cases(slack_bot)[0].id


async def test_edit_and_delete_are_recorded_not_new_cases(slack_bot: SlackHarness) -> None:
    original = message_event()
    await slack_bot.requests.event(original, event_id="EvORIG")
    await slack_bot.wait_processed(1)
    [case] = cases(slack_bot)
    edited = {"type": "message", "subtype": "message_changed", "channel": INTAKE_CHANNEL,
              "ts": f"{time.time():.6f}", "channel_type": "channel",
              "message": {**original, "text": "edited text"}, "previous_message": original}
    deleted = {"type": "message", "subtype": "message_deleted", "channel": INTAKE_CHANNEL,
               "ts": f"{time.time():.6f}", "deleted_ts": original["ts"],
               "channel_type": "channel", "previous_message": original}
    assert (await slack_bot.requests.event(edited)).status == 200
    assert (await slack_bot.requests.event(deleted)).status == 200

    def audited() -> list[AuditEntry]:
        with slack_bot.store.session() as session:
            return list(session.scalars(select(AuditEntry).where(
                AuditEntry.action.like("slack_message_%")).order_by(AuditEntry.id)))

    for _ in range(100):
        if len(audited()) == 2:
            break
        await asyncio.sleep(0.05)
    entries = audited()
    # Events are handled concurrently, so the two entries may land in either order.
    assert sorted(e.action for e in entries) == ["slack_message_deleted",
                                                 "slack_message_edited"]
    assert {e.case_reference for e in entries} == {case.reference}
    assert all(e.detail["ts"] == original["ts"] for e in entries)
    # The triage post, the letter's note, and one note each for the edit and the deletion.
    notes = await slack_bot.fake.wait_for("chat.postMessage", count=4, timeout=10)
    triage_ts = notes[0].response["ts"]
    threaded = [n for n in notes if n.params.get("thread_ts") == triage_ts
                and " was " in n.params["text"]]
    assert sorted(n.params["text"].split(" was ")[1].split()[0] for n in threaded) == [
        "deleted", "edited"]
    assert all("edited text" not in n.params["text"] for n in notes)
    assert len(rows(slack_bot)) == 1 and len(cases(slack_bot)) == 1


async def test_bad_signature_is_rejected_and_nothing_stored(slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.event(message_event(), signature="v0=" + "0" * 64)
    assert reply.status == 401
    await asyncio.sleep(0.3)
    assert rows(slack_bot) == []


async def test_stale_timestamp_is_rejected_even_when_signed(slack_bot: SlackHarness) -> None:
    stale = int(time.time()) - 10 * 60  # Slack's replay window is five minutes
    reply = await slack_bot.requests.event(message_event(), timestamp=stale)
    assert reply.status == 401
    await asyncio.sleep(0.3)
    assert rows(slack_bot) == []


async def test_url_verification_is_answered(slack_bot: SlackHarness) -> None:
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    reply = await slack_bot.requests.post(body, "application/json")
    assert reply.status == 200
    assert "abc123" in reply.text


@pytest.mark.parametrize("kind", ["command", "shortcut", "view_submission", "block_action"])
async def test_unsigned_interactions_are_rejected(slack_bot: SlackHarness, kind: str) -> None:
    req = slack_bot.requests
    bad = {"signature": "v0=" + "f" * 64}
    if kind == "command":
        reply = await req.command("/phone-complaint", user_id="U0X", **bad)
    elif kind == "shortcut":
        reply = await req.shortcut("log_phone_complaint", user_id="U0X", **bad)
    elif kind == "view_submission":
        reply = await req.view_submission("phone_complaint", {}, user_id="U0X", **bad)
    else:
        reply = await req.block_action("ack_alert", "1", user_id="U0X", **bad)
    assert reply.status == 401
    await asyncio.sleep(0.2)
    assert not slack_bot.fake.calls_to("views.open")
    assert rows(slack_bot) == []
