"""Malformed phone-modal submissions, signed as Slack signs them: each is answered with an
inline error on its field (``response_action: errors``), never HTTP 500, and nothing is
stored. Slack's own elements never send these shapes; a corrupted or forged one must
still get a clear answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.phone_modal import VIEW_CALLBACK
from intake.cases.models import Message
from tests.slack.conftest import SlackHarness
from tests.slack.test_phone_modal import CALL, form


def call_time(stamp: object) -> dict[str, Any]:
    return {"value": {"type": "datetimepicker", "selected_date_time": stamp}}


# (case name, block to replace, what Slack would never send, block the error must be on)
MALFORMED: list[tuple[str, str, object, str]] = [
    ("timestamp past year 9999", "call_time", call_time(2**40), "call_time"),
    ("timestamp past the platform's time_t", "call_time", call_time(10**20), "call_time"),
    ("timestamp before 1970", "call_time", call_time(-1_000_000_000_000_000), "call_time"),
    ("timestamp as text", "call_time", call_time("yesterday"), "call_time"),
    ("timestamp true", "call_time", call_time(True), "call_time"),
    ("timestamp NaN", "call_time", call_time(float("nan")), "call_time"),
    ("element a string", "caller_name", {"value": "Sam Jones"}, "caller_name"),
    ("element a list", "urn", {"value": ["123456"]}, "urn"),
    ("block state a list", "provider", ["Oakfield"], "provider"),
    ("text value a number", "phone", {"value": {"type": "plain_text_input", "value": 7}},
     "phone"),
    ("option a string", "role", {"value": {"type": "static_select",
                                           "selected_option": "provider"}}, "role"),
    ("option value an object", "role", {"value": {"type": "static_select",
                                                  "selected_option": {"value": {}}}}, "role"),
    ("checkbox options a string", "email_consent",
     {"value": {"type": "checkboxes", "selected_options": "yes"}}, "email_consent"),
    ("date a number", "report_published",
     {"value": {"type": "datepicker", "selected_date": 20260101}}, "report_published"),
    ("unknown block not an object", "favourite_colour", 5, "what_happened"),
]


async def nothing_stored(bot: SlackHarness) -> None:
    await asyncio.sleep(0.2)
    with bot.store.session() as session:
        assert session.scalars(select(Message)).all() == []


@pytest.mark.parametrize(("block", "value", "shown_on"),
                         [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
async def test_malformed_value_is_an_inline_error_on_its_field(
        slack_bot: SlackHarness, block: str, value: object, shown_on: str) -> None:
    values = form(**CALL, email="sam@example.org")
    values[block] = value
    reply = await slack_bot.requests.view_submission(VIEW_CALLBACK, values,
                                                     user_id="U0OPERATOR")
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["response_action"] == "errors"
    assert shown_on in body["errors"] and body["errors"][shown_on]
    # Besides its own field, only what the lost answer leaves missing: an unreadable name
    # is a missing name, unreadable consent is no consent (so a postal address is needed).
    assert set(body["errors"]) - {shown_on} <= {"caller_name", "what_happened", "address"}
    await nothing_stored(slack_bot)


@pytest.mark.parametrize("state", [["not", "an", "object"], {"values": "nothing"}, None],
                         ids=["state a list", "values a string", "no state"])
async def test_unreadable_state_asks_for_the_required_fields(
        slack_bot: SlackHarness, state: object) -> None:
    reply = await slack_bot.requests.interactive({
        "type": "view_submission", "user": {"id": "U0OPERATOR"},
        "view": {"id": "V0PHONE", "type": "modal", "callback_id": VIEW_CALLBACK,
                 "state": state, "hash": "h1"}})
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["response_action"] == "errors"
    assert {"caller_name", "what_happened"} <= set(body["errors"])
    await nothing_stored(slack_bot)


async def test_well_formed_call_time_still_logs_the_call(slack_bot: SlackHarness) -> None:
    """The checks refuse only what is malformed: a float timestamp an hour ago is fine."""
    values = form(**CALL, email="sam@example.org")
    stamp = values["call_time"]["value"]["selected_date_time"] - 3600.5
    values["call_time"] = call_time(stamp)
    reply = await slack_bot.requests.view_submission(VIEW_CALLBACK, values,
                                                     user_id="U0OPERATOR")
    assert reply.json["response_action"] == "update"
    await slack_bot.wait_processed(1)
