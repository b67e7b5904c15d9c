"""The phone complaint modal over real HTTP: opening, inline errors, and a logged call."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.phone_modal import VIEW_CALLBACK
from intake.cases.models import Case, Message, OutboxItem
from intake.channels.phone import PHONE_FIELDS
from tests.slack.conftest import OUTSIDER, TRIAGE_CHANNEL, SlackHarness


def text(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def form(**answers: str) -> dict[str, Any]:
    """View state as Slack sends it; call time is a minute ago."""
    values: dict[str, Any] = {name: text(v) for name, v in answers.items()
                              if name not in ("email", "role")}
    if "email" in answers:
        values["email"] = {"value": {"type": "email_text_input", "value": answers["email"]}}
    values["email_consent"] = {"value": {"type": "checkboxes", "selected_options": (
        [{"value": "yes"}] if answers.get("email") else [])}}
    values["role"] = {"value": {"type": "static_select",
                                "selected_option": {"value": answers.get("role", "provider")}}}
    called = datetime.now(UTC) - timedelta(minutes=1)
    values["call_time"] = {"value": {"type": "datetimepicker",
                                     "selected_date_time": int(called.timestamp())}}
    return values


CALL = {"caller_name": "Sam Jones", "provider": "Oakfield Primary School", "urn": "123456",
        "what_happened": "The inspector was rude to the headteacher and ignored the evidence "
                         "we gave about our phonics teaching during the inspection last week."}


async def test_slash_command_opens_the_modal_with_every_field(slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.command("/phone-complaint", user_id=OUTSIDER)
    assert reply.status == 200
    [call] = await slack_bot.fake.wait_for("views.open")
    view = call.params["view"]
    assert view["callback_id"] == VIEW_CALLBACK
    blocks = {b["block_id"] for b in view["blocks"]}
    assert blocks == set(PHONE_FIELDS) - {"operator"}  # the operator comes from Slack
    call_time = next(b for b in view["blocks"] if b["block_id"] == "call_time")
    now = datetime.now(UTC).timestamp()
    assert abs(call_time["element"]["initial_date_time"] - now) < 60


async def test_global_shortcut_opens_the_modal(slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.shortcut("log_phone_complaint", user_id=OUTSIDER)
    assert reply.status == 200
    [call] = await slack_bot.fake.wait_for("views.open")
    assert call.params["view"]["callback_id"] == VIEW_CALLBACK


async def test_missing_fields_are_shown_inline_and_nothing_is_stored(
        slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.view_submission(
        VIEW_CALLBACK, form(provider="Oakfield"), user_id=OUTSIDER)
    assert reply.status == 200
    body = reply.json
    assert body["response_action"] == "errors"
    assert {"caller_name", "what_happened"} <= set(body["errors"])
    await asyncio.sleep(0.3)
    with slack_bot.store.session() as session:
        assert session.scalars(select(Message)).all() == []


async def test_bad_email_is_an_inline_error_on_the_email_field(
        slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.view_submission(
        VIEW_CALLBACK, form(**CALL, email="not-an-address"), user_id=OUTSIDER)
    assert reply.json["response_action"] == "errors"
    assert "email" in reply.json["errors"]


# The letter's route is under test, not review holds: no label is below 0.
@pytest.mark.slack_settings(review_threshold=0.0)
async def test_call_with_email_consent_creates_a_case_and_emails_the_letter(
        slack_bot: SlackHarness) -> None:
    reply = await slack_bot.requests.view_submission(
        VIEW_CALLBACK, form(**CALL, email="sam@example.org"), user_id="U0OPERATOR",
        view_id="V0CALL")
    assert reply.status == 200
    assert reply.json["response_action"] == "update"
    await slack_bot.wait_processed(1)
    with slack_bot.store.session() as session:
        [msg] = session.scalars(select(Message)).all()
        assert (msg.channel, msg.disposition) == ("phone", "new_case")
        assert json.loads(msg.raw)["operator"] == "slack:U0OPERATOR"
        case = session.get(Case, msg.case_id)
        assert case is not None
        reference = case.reference
        [letter] = case.letters
        assert (letter.delivery, letter.recipient) == ("email", "sam@example.org")
        assert session.scalars(select(OutboxItem)).all()
    [update] = await slack_bot.fake.wait_for("views.update", timeout=10)
    assert update.params["view_id"] == "V0CALL"
    shown = json.dumps(update.params["view"])
    assert reference in shown and "Intent:" in shown and "email" in shown


# The letter's route is under test, not review holds: no label is below 0.
@pytest.mark.slack_settings(review_threshold=0.0)
async def test_call_without_email_attaches_a_printable_letter_to_the_case_thread(
        slack_bot: SlackHarness) -> None:
    answers = {**CALL, "address": "1 High Street, Oakfield, OK1 2AB"}
    reply = await slack_bot.requests.view_submission(VIEW_CALLBACK, form(**answers),
                                                     user_id="U0OPERATOR")
    assert reply.json["response_action"] == "update"
    await slack_bot.wait_processed(1)
    fake = slack_bot.fake
    [triage] = await fake.wait_for("chat.postMessage", timeout=10)
    assert triage.params["channel"] == TRIAGE_CHANNEL
    [done] = await fake.wait_for("files.completeUploadExternal", timeout=10)
    with slack_bot.store.session() as session:
        case = session.scalars(select(Case)).one()
        assert case.slack_ts is not None
        assert done.params["thread_ts"] == case.slack_ts
        assert done.params["channel_id"] == TRIAGE_CHANNEL
        [letter] = case.letters
        assert letter.delivery == "post"
        file_id = done.params["files"][0]["id"]
        assert fake.uploads[file_id].decode() == letter.body_text
        assert case.reference in fake.uploads[file_id].decode()
    [update] = await fake.wait_for("views.update", timeout=10)
    assert "printable" in json.dumps(update.params["view"])
