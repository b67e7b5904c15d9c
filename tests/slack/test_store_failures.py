"""When the database refuses an input after Slack has had its answer: retried, and if it
still fails, the person who logged it is told (and keeps what they typed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

import bot.intake
from intake.cases.models import Message
from tests.slack.conftest import INTAKE_CHANNEL, STAFF_USER, SlackHarness
from tests.slack.test_phone_modal import CALL, form


class RefuseInserts:
    """Makes INSERTs into messages fail, ``times`` times (or always)."""

    def __init__(self, times: int | None) -> None:
        self.left = times
        self.refused = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES") and \
                (self.left is None or self.left > 0):
            if self.left is not None:
                self.left -= 1
            self.refused += 1
            raise OperationalError(statement, {}, Exception("database is locked"))


@pytest.fixture
def refuse(slack_bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        Any]:
    monkeypatch.setattr(bot.intake, "STORE_RETRY_DELAYS", (0.05, 0.05, 0.05))
    listeners: list[RefuseInserts] = []

    def install(times: int | None) -> RefuseInserts:
        fn = RefuseInserts(times)
        event.listen(slack_bot.store.engine, "before_cursor_execute", fn)
        listeners.append(fn)
        return fn

    yield install
    for fn in listeners:
        event.remove(slack_bot.store.engine, "before_cursor_execute", fn)


async def test_an_event_the_database_refuses_is_sent_again_by_slack_not_lost(
        slack_bot: SlackHarness, refuse: Any) -> None:
    refusals = refuse(1)
    event = {"type": "message", "channel": INTAKE_CHANNEL, "user": "U0P",
             "ts": f"{time.time()}", "text": "The inspector ignored our evidence about "
             "attendance."}
    reply = await slack_bot.requests.event(event, event_id="EvHICCUP")
    assert reply.status == 503  # not acknowledged: Slack keeps it and sends it again
    assert refusals.refused == 1
    with slack_bot.store.session() as session:
        assert session.scalars(select(Message)).all() == []
    again = await slack_bot.requests.event(event, event_id="EvHICCUP", retry_num=1)
    assert again.status == 200
    await slack_bot.wait_processed(1)
    with slack_bot.store.session() as session:
        [msg] = session.scalars(select(Message)).all()
        assert (msg.external_id, msg.disposition) == ("EvHICCUP", "new_case")


async def test_phone_answers_come_back_when_they_cannot_be_stored(slack_bot: SlackHarness,
                                                                  refuse: Any) -> None:
    refuse(None)
    answers = form(**CALL, email="sam@example.org")
    reply = await slack_bot.requests.view_submission("phone_complaint", answers,
                                                     user_id="U0OP", view_id="V0DOWN")
    assert reply.json["response_action"] == "update"
    [update] = await slack_bot.fake.wait_for("views.update", timeout=10)
    assert update.params["view_id"] == "V0DOWN"
    view = update.params["view"]
    assert view["callback_id"] == "phone_complaint"  # the form again, ready to resubmit
    assert "could not be stored" in view["blocks"][0]["text"]["text"]
    blocks = {b["block_id"]: b["element"] for b in view["blocks"] if "element" in b}
    assert blocks["caller_name"]["initial_value"] == "Sam Jones"
    assert blocks["what_happened"]["initial_value"] == CALL["what_happened"]
    assert blocks["email"]["initial_value"] == "sam@example.org"
    assert blocks["email_consent"]["initial_options"][0]["value"] == "yes"
    assert blocks["role"]["initial_option"]["value"] == "provider"
    sent_time = answers["call_time"]["value"]["selected_date_time"]
    assert blocks["call_time"]["initial_date_time"] == sent_time
    assert slack_bot.accepted == []


async def test_shortcut_says_nothing_was_recorded_when_the_store_is_down(
        slack_bot: SlackHarness, refuse: Any) -> None:
    refuse(None)
    message = {"type": "message", "user": "U0W", "ts": "1700000555.000100",
               "text": "Please log: the inspection report has the wrong school name."}
    await slack_bot.requests.message_shortcut("log_as_complaint", user_id=STAFF_USER,
                                              channel_id="C0X", message=message)
    [update] = await slack_bot.fake.wait_for("views.update", timeout=10)
    assert "Nothing was recorded" in json.dumps(update.params["view"])
