"""``/complaints`` through the real app: ephemeral answers in the command's HTTP reply."""

from __future__ import annotations

import asyncio
import json
import statistics
from datetime import UTC, date, datetime, time, timedelta

import pytest

from intake.cases import actions
from intake.rules.deadlines import LONDON
from intake.rules.working_days import add_working_days
from tests.slack.conftest import OUTSIDER, STAFF_USER, SlackHarness
from tests.slack.triage_helpers import audit_of, new_case

# No acknowledgement held for review, whatever the classifier's confidence: a held one is
# rightly "due", and these tests are about other dates.
pytestmark = pytest.mark.slack_settings(review_threshold=0.0)


def today() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


def received_for_respond_by(target: date) -> datetime:
    """A call time whose 30-working-day response date (OFS-2024) is the first working day
    on or after ``target``."""
    day = target - timedelta(days=30)
    while add_working_days(day, 30) > target:
        day -= timedelta(days=1)
    while add_working_days(day, 30) < target:
        day += timedelta(days=1)
    return datetime.combine(day, time(11, 0), tzinfo=LONDON)


async def case_due_on(bot: SlackHarness, target: date) -> str:
    call = received_for_respond_by(target)
    case = await new_case(bot, call_time=call.isoformat())
    return case.reference


async def ask(bot: SlackHarness, text: str, user: str = STAFF_USER) -> dict:  # type: ignore[type-arg]
    reply = await bot.requests.command("/complaints", user_id=user, text=text)
    assert reply.status == 200 and reply.elapsed < 3
    body = reply.json
    assert body["response_type"] == "ephemeral"
    return body


def shown(body: dict) -> str:  # type: ignore[type-arg]
    return json.dumps(body, ensure_ascii=False)


async def test_help_for_anyone(slack_bot: SlackHarness) -> None:
    for text in ("", "help", "frobnicate"):
        body = await ask(slack_bot, text, user=OUTSIDER)
        assert "/complaints case REF" in shown(body)
    assert "I don't know `frobnicate`" in shown(await ask(slack_bot, "frobnicate"))


async def test_non_staff_cannot_look_cases_up(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    body = await ask(slack_bot, f"case {case.reference}", user=OUTSIDER)
    assert "Only triage staff" in body["text"] and case.reference not in shown(body)
    await asyncio.sleep(0.1)
    refused = [a for a in audit_of(slack_bot) if a.action == "refused"]
    assert [(a.actor, a.detail["attempted"]) for a in refused] == \
        [(f"slack:{OUTSIDER}", "complaints case")]


async def test_case_shows_structured_fields_without_buttons(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    body = await ask(slack_bot, f"case {case.reference.lower()}")
    text = shown(body)
    assert case.reference in text and "EY123456" in text and "`OFS-2024`" in text
    assert "shouted" not in text and "Dawn Fenwick" not in text
    assert not [b for b in body["blocks"] if b["type"] == "actions"]
    missing = await ask(slack_bot, "case CMP-1999-00001")
    assert missing["text"] == "No case with reference CMP-1999-00001."


async def test_case_with_no_or_several_references_says_how(slack_bot: SlackHarness) -> None:
    assert (await ask(slack_bot, "case"))["text"].startswith("Give a reference")
    several = await ask(slack_bot, "case CMP-2026-00001 CMP-2026-00002")
    assert several["text"].startswith("Give one reference")


async def test_due_and_overdue_lists(slack_bot: SlackHarness) -> None:
    soon = add_working_days(today(), 2)
    due_ref = await case_due_on(slack_bot, soon)
    late_ref = await case_due_on(slack_bot, today() - timedelta(days=10))
    far_ref = (await new_case(slack_bot)).reference  # due in 30 working days
    due = shown(await ask(slack_bot, "due"))
    assert due_ref in due and late_ref not in due and far_ref not in due
    assert "respond by" in due and "`OFS-2024`" in due
    overdue = shown(await ask(slack_bot, "overdue"))
    assert late_ref in overdue and due_ref not in overdue and far_ref not in overdue
    assert ":warning: overdue" in overdue


async def test_mine_lists_cases_assigned_to_me(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    other = await new_case(slack_bot)
    assert "No open cases are assigned to you" in shown(await ask(slack_bot, "mine"))

    def give() -> None:
        with slack_bot.store.session() as s:
            actions.assign(s, actions.find_case(s, case.reference), "staff:U0X", STAFF_USER)
            actions.assign(s, actions.find_case(s, other.reference), "staff:U0X", "U0ELSE")
    await asyncio.to_thread(give)
    mine = shown(await ask(slack_bot, "mine"))
    assert case.reference in mine and other.reference not in mine
    assert "Your cases* (1)" in mine


async def test_stats_counts_open_work(slack_bot: SlackHarness) -> None:
    first = await new_case(slack_bot)
    await new_case(slack_bot)

    def close() -> None:
        with slack_bot.store.session() as s:
            actions.close_case(s, actions.find_case(s, first.reference), "staff:U0X",
                               "Not upheld")
    await asyncio.to_thread(close)
    text = shown(await ask(slack_bot, "stats"))
    assert "*Open cases*: 1 (closed: 1)" in text
    assert "unassigned: 1" in text


async def test_answers_are_fast(slack_bot: SlackHarness) -> None:
    for _ in range(3):
        await new_case(slack_bot)
    times = []
    for _ in range(20):
        for text in ("due", "stats", "mine"):
            reply = await slack_bot.requests.command("/complaints", user_id=STAFF_USER,
                                                     text=text)
            times.append(reply.elapsed)
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"/complaints: median {statistics.median(times) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms over {len(times)} requests")
    assert p99 < 1.0  # Slack needs 3 s; the aim is 100 ms (PRODUCT.md)


@pytest.mark.slack_settings(review_threshold=1.0)
async def test_held_acknowledgement_is_due_until_it_goes(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot, email="dawn@example.org", email_consent="yes")
    assert [lt.status for lt in case.letters if lt.kind == "acknowledgement"] == ["held"]
    due = shown(await ask(slack_bot, "due"))
    assert f"*{case.reference}* acknowledge by" in due  # 000_… para 16: the same day

    def approve() -> None:
        with slack_bot.store.session() as s:
            found = actions.find_case(s, case.reference)
            [held] = [lt for lt in found.letters if lt.status == "held"]
            actions.approve_letter(s, found, held.id, "staff:U0X", slack_bot.settings)
    await asyncio.to_thread(approve)
    assert f"*{case.reference}* acknowledge by" not in shown(await ask(slack_bot, "due"))
