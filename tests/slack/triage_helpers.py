"""Helpers for the triage tests: real cases through the pipeline, posts, and interactions."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.app import app_services
from intake import pipeline
from intake.cases.models import AuditEntry, Case
from intake.channels.phone import phone_record
from tests.slack.conftest import TRIAGE_CHANNEL, Reply, SlackHarness
from tests.slack.fake_slack import Call
from tests.test_pipeline import FORM

SAFEGUARDING = ("Caller says that during the inspection of the nursery on Tuesday the "
                "inspector ignored what staff told her: a three year old child goes home to "
                "a parent who hits him and he has bruises on his arms. She fears the child "
                "is being abused and is in danger now and nobody is acting on it.")


async def new_case(bot: SlackHarness, **form: Any) -> Case:
    """A phone complaint through the real pipeline, and its triage post in Slack."""
    now = datetime.now(UTC)
    fields = {**FORM, "report_published": None, "call_time": now.isoformat(), **form}
    record = phone_record({k: v for k, v in fields.items() if v is not None},
                          operator="op-1", now=now)
    message_id = await asyncio.to_thread(pipeline.accept, bot.store, record)
    app_services(bot.runner.app).on_accept(message_id)
    # Generous limits: the first message loads the trained model, and CI machines are busy.
    await bot.wait_processed(len(bot.accepted), timeout=60)
    case = await asyncio.to_thread(load_case_of_message, bot, message_id)
    await bot.fake.wait_until(lambda: triage_post(bot, case.reference) is not None,
                              timeout=30, what=f"triage post of {case.reference}")
    for _ in range(100):  # the post queue stores the post's ts just after Slack answers
        case = await asyncio.to_thread(load_case, bot, case.reference)
        if case.slack_ts:
            return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"the triage post's ts was not stored for {case.reference}")


def load_case_of_message(bot: SlackHarness, message_id: int) -> Case:
    from intake.cases.models import Message

    with bot.store.session() as s:
        msg = s.get(Message, message_id)
        assert msg is not None and msg.case_id, f"message {message_id} made no case"
        case = s.get(Case, msg.case_id)
        assert case is not None
        return case


def load_case(bot: SlackHarness, reference: str) -> Case:
    """The case with its letters, labels and deadlines loaded (usable after the session)."""
    with bot.store.session() as s:
        case = s.scalars(select(Case).where(Case.reference == reference)).one()
        _ = (case.letters, case.labels, case.deadlines, case.complainant, case.messages)
        return case


def audit_of(bot: SlackHarness, reference: str | None = None) -> list[AuditEntry]:
    with bot.store.session() as s:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if reference is not None:
            query = query.where(AuditEntry.case_reference == reference)
        return list(s.scalars(query))


def triage_post(bot: SlackHarness, reference: str) -> Call | None:
    for call in bot.fake.calls_to("chat.postMessage"):
        if call.params.get("channel") == TRIAGE_CHANNEL and \
                f"Case {reference}:" in str(call.params.get("text")):
            return call
    return None


def updates_of(bot: SlackHarness, ts: str) -> list[Call]:
    return [c for c in bot.fake.calls_to("chat.update") if c.params.get("ts") == ts]


async def wait_update(bot: SlackHarness, ts: str, contains: str,
                      timeout: float = 15.0) -> Call:
    """The first chat.update of the post ``ts`` whose blocks contain ``contains``."""
    def found() -> Call | None:
        for call in updates_of(bot, ts):
            if contains in json.dumps(call.params.get("blocks")):
                return call
        return None

    await bot.fake.wait_until(lambda: found() is not None, timeout,
                              f"chat.update of {ts} containing {contains!r}")
    call = found()
    assert call is not None
    return call


def posted_button(bot: SlackHarness, case: Case, action_id: str) -> dict[str, Any]:
    """The button with this action id (or prefix) on the case's post as Slack last got it."""
    calls = [c for c in bot.fake.calls_to("chat.postMessage") + bot.fake.calls_to("chat.update")
             if c.params.get("ts") == case.slack_ts or c is triage_post(bot, case.reference)]
    for call in reversed(calls):
        for block in call.params.get("blocks") or []:
            for element in block.get("elements", []):
                if str(element.get("action_id", "")).startswith(action_id):
                    return element
    raise AssertionError(f"no {action_id} button on {case.reference}'s post")


async def press(bot: SlackHarness, case: Case, action_id: str, user: str,
                value: str | None = None) -> Reply:
    """Click a button on the case's triage post, as Slack sends it."""
    return await bot.requests.block_action(action_id, value or case.reference, user_id=user,
                                           message_ts=case.slack_ts or "1.0",
                                           block_id=f"case:{case.reference}")


async def select_user(bot: SlackHarness, case: Case, user: str, chosen: str) -> Reply:
    return await bot.requests.interactive({
        "type": "block_actions", "user": {"id": user}, "channel": {"id": TRIAGE_CHANNEL},
        "container": {"type": "message", "message_ts": case.slack_ts},
        "message": {"ts": case.slack_ts, "text": ""},
        "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": "case_assign", "block_id": f"case:{case.reference}",
                     "type": "users_select", "selected_user": chosen,
                     "action_ts": str(time.time())}]})


async def submit(bot: SlackHarness, view: dict[str, Any], values: dict[str, Any],
                 user: str) -> Reply:
    """Submit a modal the app opened (its callback id and private metadata kept)."""
    return await bot.requests.interactive({
        "type": "view_submission", "user": {"id": user},
        "view": {"id": view.get("id", "V0"), "type": "modal",
                 "callback_id": view["callback_id"],
                 "private_metadata": view.get("private_metadata", ""),
                 "state": {"values": values}, "hash": "h1"}})


async def opened_view(bot: SlackHarness, count: int) -> dict[str, Any]:
    """The view of the ``count``-th views.open call."""
    calls = await bot.fake.wait_for("views.open", count)
    return calls[count - 1].params["view"]


def text_value(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def select_value(value: str) -> dict[str, Any]:
    return {"value": {"type": "static_select", "selected_option": {"value": value}}}


def checked(*values: str) -> dict[str, Any]:
    return {"value": {"type": "checkboxes",
                      "selected_options": [{"value": v} for v in values]}}
