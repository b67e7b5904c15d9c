"""Requests an outside caller or Slack itself may send that the main flows do not: malformed
bodies, kinds the app has no listener for, unusual message shapes, another workspace's
events, a message logged twice by different routes, a modal whose case is gone, and double
clicks.
Real app over loopback HTTP, correctly signed unless the test says otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import aiohttp
import pytest
from sqlalchemy import select

from intake.cases.models import Case, Label, Message
from tests.slack.conftest import INTAKE_CHANNEL, STAFF_USER, SlackHarness
from tests.slack.test_intake_events import COMPLAINT, message_event
from tests.slack.triage_helpers import audit_of, load_case, new_case, press, select_user


def rows(bot: SlackHarness) -> list[Message]:
    with bot.store.session() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def case_count(bot: SlackHarness) -> int:
    with bot.store.session() as session:
        return len(session.scalars(select(Case)).all())


async def post_bytes(bot: SlackHarness, body: bytes, content_type: str,
                     timestamp: str | None = None) -> tuple[int, str]:
    """Post raw bytes, signed over exactly those bytes."""
    ts = timestamp or str(int(time.time()))
    base = f"v0:{ts}:".encode() + body
    sig = "v0=" + hmac.new(bot.requests.secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": sig}
    async with aiohttp.ClientSession() as http:
        async with http.post(bot.requests.url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"", "application/json", 400),
    (b"hello", "text/plain", 400),
    (b"a=b", "application/x-www-form-urlencoded", 400),
    (b"payload=%7Bnot", "application/x-www-form-urlencoded", 400),
    (b"payload=%5B1%5D", "application/x-www-form-urlencoded", 400),
    (b"\xff\xfe{", "application/json", 400),
])
async def test_malformed_signed_bodies_get_a_plain_4xx(slack_bot: SlackHarness, body: bytes,
                                                       content_type: str, status: int) -> None:
    code, text = await post_bytes(slack_bot, body, content_type)
    assert code == status
    assert "Traceback" not in text and "Internal Server Error" not in text
    await asyncio.sleep(0.2)
    assert rows(slack_bot) == []


async def test_timestamp_that_is_not_a_number_is_refused(slack_bot: SlackHarness) -> None:
    body = json.dumps({"type": "event_callback", "event": message_event()}).encode()
    code, text = await post_bytes(slack_bot, body, "application/json", timestamp="abc")
    assert code == 401 and "timestamp" in text
    await asyncio.sleep(0.2)
    assert rows(slack_bot) == []


async def test_get_on_the_endpoint_is_refused(slack_bot: SlackHarness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(slack_bot.requests.url) as resp:
            assert resp.status == 405


async def test_signed_requests_without_a_listener_are_acknowledged(
        slack_bot: SlackHarness) -> None:
    """Slack retries, and eventually disables, a request URL that answers 404."""
    req = slack_bot.requests
    mention = {"type": "app_mention", "user": "U0PERSON", "text": "<@U0BOT> hello",
               "ts": f"{time.time():.6f}", "channel": INTAKE_CHANNEL}
    rate_limited = json.dumps({"token": "legacy", "team_id": "T0TEST", "api_app_id": "A0APP",
                               "type": "app_rate_limited", "minute_rate_limited": 1518467820})
    replies = [
        await req.event(mention),
        await req.post(rate_limited, "application/json"),
        await req.interactive({"type": "view_closed", "user": {"id": STAFF_USER},
                               "view": {"id": "V1", "type": "modal",
                                        "callback_id": "phone_complaint"},
                               "is_cleared": False}),
        await req.block_action("no_such_action", "x", user_id=STAFF_USER),
        await req.command("/no-such-command", user_id=STAFF_USER),
    ]
    assert [r.status for r in replies] == [200] * len(replies)
    await asyncio.sleep(0.3)
    assert rows(slack_bot) == []


async def test_slack_markup_is_stored_as_readable_text(slack_bot: SlackHarness) -> None:
    text = ("Ask <@U0HEAD> in <#C0ABC|staff-room> or <mailto:head@school.example|head@school"
            ".example>; see <https://reports.example/r/1|the report> &amp; note &lt;draft&gt; "
            "<!here> <!subteam^S0SLT|@leaders> <!date^1392734382^{date}|18 February 2014>. "
            + COMPLAINT)
    await slack_bot.requests.event(message_event(text), event_id="EvMARKUP")
    await slack_bot.wait_processed(1)
    [msg] = rows(slack_bot)
    assert (msg.text or "").startswith(
        "Ask @U0HEAD in #staff-room or head@school.example; see the report "
        "(https://reports.example/r/1) & note <draft> @here @leaders 18 February 2014. ")


async def test_message_with_only_rich_text_blocks_becomes_a_case(
        slack_bot: SlackHarness) -> None:
    blocks = [{"type": "rich_text", "elements": [
        {"type": "rich_text_section", "elements": [
            {"type": "text", "text": "The inspector at Oakfield Primary was rude to "},
            {"type": "user", "user_id": "U0HEAD"},
            {"type": "text", "text": " during the inspection."}]}]}]
    await slack_bot.requests.event(message_event("", blocks=blocks), event_id="EvBLOCKS")
    await slack_bot.wait_processed(1)
    [msg] = rows(slack_bot)
    assert msg.disposition == "new_case"
    assert msg.text == "The inspector at Oakfield Primary was rude to @U0HEAD during the " \
        "inspection."


@pytest.mark.parametrize("extra", [
    {"subtype": "file_share", "files": [{"id": "F0FILE", "name": "notes.pdf"}]},
    {"subtype": "thread_broadcast"},
])
async def test_thread_replies_with_a_file_or_sent_to_the_channel_are_not_cases(
        slack_bot: SlackHarness, extra: dict[str, object]) -> None:
    event = message_event(thread_ts="1700000000.000100", **extra)
    assert (await slack_bot.requests.event(event)).status == 200
    await asyncio.sleep(0.5)
    assert rows(slack_bot) == []


async def test_event_for_another_workspace_is_ignored(slack_bot: SlackHarness) -> None:
    body = {"token": "legacy", "team_id": "T0ELSEWHERE", "api_app_id": "A0APP",
            "type": "event_callback", "event_id": "EvFOREIGN",
            "event_time": int(time.time()), "event": message_event(),
            "authorizations": [{"team_id": "T0ELSEWHERE", "user_id": "U0BOT",
                                "is_bot": True}]}
    reply = await slack_bot.requests.post(json.dumps(body), "application/json")
    assert reply.status == 200
    await asyncio.sleep(0.5)
    assert rows(slack_bot) == []


async def test_logging_a_message_already_taken_in_points_to_its_case(
        slack_bot: SlackHarness) -> None:
    event = message_event()
    await slack_bot.requests.event(event, event_id="EvFIRST")
    await slack_bot.wait_processed(1)
    message = {k: event[k] for k in ("type", "user", "text", "ts")}
    reply = await slack_bot.requests.message_shortcut(
        "log_as_complaint", user_id=STAFF_USER, channel_id=INTAKE_CHANNEL, message=message)
    assert reply.status == 200
    await slack_bot.wait_processed(2)
    first, second = rows(slack_bot)
    assert (second.disposition, second.case_id) == ("duplicate", first.case_id)
    assert case_count(slack_bot) == 1
    [update] = await slack_bot.fake.wait_for("views.update")
    with slack_bot.store.session() as session:
        reference = session.get(Case, first.case_id).reference  # type: ignore[union-attr]
    assert reference in json.dumps(update.params["view"])


@pytest.mark.parametrize("callback", ["case_edit_labels", "case_link", "case_close",
                                      "case_out_of_scope"])
async def test_modal_for_a_case_that_is_gone_says_so(slack_bot: SlackHarness,
                                                     callback: str) -> None:
    reply = await slack_bot.requests.interactive({
        "type": "view_submission", "user": {"id": STAFF_USER},
        "view": {"id": "V0GONE", "type": "modal", "callback_id": callback,
                 "private_metadata": json.dumps({"ref": "CMP-2026-99999"}),
                 "state": {"values": {}}, "hash": "h1"}})
    assert reply.status == 200
    answer = reply.json
    assert answer["response_action"] == "update"
    assert "CMP-2026-99999" in json.dumps(answer["view"])


async def test_double_click_on_confirm_labels_confirms_once(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    first, second = await asyncio.gather(
        press(slack_bot, case, "case_confirm_labels", STAFF_USER),
        press(slack_bot, case, "case_confirm_labels", STAFF_USER))
    assert first.status == second.status == 200
    [note] = await slack_bot.fake.wait_for("chat.postEphemeral")
    assert note.params["text"] == f"The labels of {case.reference} are already confirmed."
    assert [a.action for a in audit_of(slack_bot, case.reference)].count(
        "labels_confirmed") == 1
    with slack_bot.store.session() as session:
        staff = session.scalars(select(Label).where(
            Label.case_id == case.id, Label.source == f"staff:{STAFF_USER}")).all()
        model = session.scalars(select(Label).where(
            Label.case_id == case.id, Label.source.like("model:%"))).all()
    assert len(staff) == len(model) > 0


async def test_repeated_assignment_is_noted_once(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    replies = await asyncio.gather(select_user(slack_bot, case, STAFF_USER, "U0INV"),
                                   select_user(slack_bot, case, STAFF_USER, "U0INV"))
    assert [r.status for r in replies] == [200, 200]
    await slack_bot.fake.wait_until(lambda: any(
        "assigned to" in str(c.params.get("text"))
        for c in slack_bot.fake.calls_to("chat.postMessage")), what="assignment note")
    await asyncio.sleep(0.5)  # room for a second note, which must not come
    notes = [c for c in slack_bot.fake.calls_to("chat.postMessage")
             if "assigned to" in str(c.params.get("text"))]
    assert len(notes) == 1
    assert [a.action for a in audit_of(slack_bot, case.reference)].count("assigned") == 1
    assert load_case(slack_bot, case.reference).assignee == "U0INV"
