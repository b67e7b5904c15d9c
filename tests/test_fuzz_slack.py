"""Bad Slack payloads at volume (hypothesis) through the real HTTP app.

The Bolt app is served over HTTP on loopback with signature verification on, its Web API
pointed at the fake Slack of ``tests/slack``, and the real pipeline worker behind it (all
on one event loop in a background thread, so hypothesis drives it synchronously).
Payloads keep Slack's envelope but fill it with random values: slash commands, block
actions with the app's own action ids, view submissions with its callback ids and random
state, and message events in the intake channel.

Properties:
- no signed payload ever makes a handler fail (HTTP 5xx);
- an unsigned or tampered request is refused (401) whatever it carries;
- every message the app stored reaches a final disposition (never pending or failed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake import settings as settings_mod
from intake.cases.db import Store, upgrade
from tests.slack.fake_slack import BOT_TOKEN, TEAM_ID, FakeSlack

SECRET = "fuzz-signing-secret-0123456789abcdef"
INTAKE = "C0INTAKE"
TRIAGE = "C0TRIAGE"
STAFF = "U0STAFF"
ACTION_IDS = ("case_confirm_labels", "case_edit_labels", "case_assign", "case_show_text",
              "case_link", "case_out_of_scope", "case_close", "case_link_proposed:link:1",
              "case_link_proposed:merge:x", "case_preview_letter:1", "ack_alert", "unknown")
CALLBACKS = ("phone_complaint", "case_edit_labels", "case_link", "case_out_of_scope",
             "case_close", "letter_approve", "intake_outcome", "nope")
COMMANDS = ("/complaints", "/phone-complaint", "/unknown")
CHECKS = dict(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])


@dataclass
class App:
    loop: asyncio.AbstractEventLoop
    url: str
    store: Store

    def call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(60)


def _sign(body: str, ts: int, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(),
                            hashlib.sha256).hexdigest()


async def _post(url: str, body: str, content_type: str, *, signature: str | None = None,
                ts: int | None = None) -> int:
    ts = int(time.time()) if ts is None else ts
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": signature or _sign(body, ts)}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body.encode("utf-8", "surrogatepass"),
                             headers=headers) as resp:
            await resp.read()
            return resp.status


def _serve(ready: threading.Event, box: dict[str, Any], stop: threading.Event,
           db_url: str) -> None:
    async def main() -> None:
        from bot.server import SlackRunner
        from intake.pipeline import PipelineWorker

        fake = await FakeSlack().start()
        current = settings_mod.load_settings(
            database_url=db_url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET,
            slack_api_url=fake.url, slack_port=0, slack_intake_channel=INTAKE,
            slack_triage_channel=TRIAGE, slack_staff=[STAFF], worker_poll_seconds=0.05,
            slack_post_interval_seconds=0, mailboxes=["enquiries@example.org"])
        settings_mod.set_settings(current)
        store = Store(db_url)
        worker = PipelineWorker(store, current)
        done = asyncio.Event()
        pipeline = asyncio.create_task(worker.run(done))
        runner = SlackRunner(current, store, worker.wake)
        await runner.start()
        box["app"] = App(asyncio.get_running_loop(),
                         f"http://127.0.0.1:{runner.port}/slack/events", store)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.stop()
        done.set()
        await asyncio.wait([pipeline], timeout=10)
        await fake.stop()
        store.dispose()

    asyncio.run(main())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("INTAKE_", "SLACK_"))}
    tmp: Path = tmp_path_factory.mktemp("fuzz-slack")
    db_url = f"sqlite:///{tmp / 'intake.db'}"
    upgrade(db_url)
    previous = settings_mod._current
    ready, stop, box = threading.Event(), threading.Event(), {}
    thread = threading.Thread(target=_serve, args=(ready, box, stop, db_url), daemon=True)
    thread.start()
    assert ready.wait(30), "the Slack app did not start"
    yield box["app"]
    stop.set()
    thread.join(30)
    settings_mod.set_settings(previous)
    os.environ.update(saved)


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
users = st.sampled_from([STAFF, "U0OUTSIDER", "", "W123", "U0STAFF\u0000"])
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        words)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)), max_leaves=8)


@st.composite
def command(draw: st.DrawFn) -> str:
    form = {"token": "legacy", "team_id": TEAM_ID, "channel_id": draw(st.sampled_from(
        [INTAKE, TRIAGE, "C0OPS", ""])), "user_id": draw(users),
        "command": draw(st.sampled_from(COMMANDS)), "text": draw(st.one_of(
            words, st.sampled_from(["due", "overdue", "mine", "stats", "case CMP-2026-00001",
                                    "case", "help", "case ' OR 1=1 --"]))),
        "response_url": "http://127.0.0.1:9/unused", "trigger_id": "trig.1",
        "api_app_id": "A0APP"}
    if draw(st.booleans()):
        form.pop(draw(st.sampled_from(sorted(form))))
    return urlencode(form)


@st.composite
def block_action(draw: st.DrawFn) -> str:
    action = {"action_id": draw(st.sampled_from(ACTION_IDS)), "block_id": draw(st.one_of(
        words, st.just("case:CMP-2026-00001"))), "type": "button",
        "value": draw(st.one_of(words, st.sampled_from(["CMP-2026-00001", "1", "-1", "|"]))),
        "action_ts": "1"}
    if draw(st.booleans()):
        action["selected_user"] = draw(users)
    payload = {"type": "block_actions", "team": {"id": TEAM_ID}, "api_app_id": "A0APP",
               "user": {"id": draw(users)}, "channel": {"id": draw(st.sampled_from(
                   [TRIAGE, INTAKE, "D0DM"]))}, "trigger_id": "trig.1",
               "container": {"type": "message", "message_ts": "1.1"},
               "message": {"ts": "1.1", "text": ""}, "response_url": "http://127.0.0.1:9/u",
               "actions": [action]}
    return urlencode({"payload": json.dumps(payload)})


@st.composite
def view_submission(draw: st.DrawFn) -> str:
    blocks = ("caller_name", "phone", "email", "address", "role", "provider", "urn",
              "inspection_dates", "report_published", "what_happened", "desired_outcome",
              "actions_taken", "availability", "email_consent", "call_time", "value", "mode")
    values = {}
    for block in draw(st.lists(st.sampled_from(blocks), max_size=8, unique=True)):
        values[block] = {"value": draw(st.one_of(
            st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": words}),
            st.fixed_dictionaries({"type": st.just("static_select"), "selected_option":
                                   st.fixed_dictionaries({"value": words})}),
            st.fixed_dictionaries({"type": st.just("datetimepicker"),
                                   # Slack's picker range; far-off values: see the report
                                   "selected_date_time": st.integers(-2**31, 2**34)}),
            st.fixed_dictionaries({"type": st.just("checkboxes"), "selected_options":
                                   st.lists(st.fixed_dictionaries({"value": words}),
                                            max_size=2)}),
            st.dictionaries(words, json_value, max_size=3)))}  # Slack's elements are objects
    view = {"id": "V1", "type": "modal", "callback_id": draw(st.sampled_from(CALLBACKS)),
            "state": {"values": values}, "hash": "h",
            "private_metadata": draw(st.one_of(words, st.just('{"reference": "CMP-1"}')))}
    payload = {"type": "view_submission", "team": {"id": TEAM_ID}, "api_app_id": "A0APP",
               "user": {"id": draw(users)}, "view": view}
    return urlencode({"payload": json.dumps(payload)})


@st.composite
def message_event(draw: st.DrawFn) -> str:
    event: dict[str, Any] = {"type": "message", "channel": draw(st.sampled_from(
        [INTAKE, TRIAGE])), "user": draw(users), "text": draw(words),
        "ts": f"{draw(st.integers(1, 2**31))}.{draw(st.integers(0, 999999)):06d}"}
    if draw(st.booleans()):
        event["subtype"] = draw(st.sampled_from(["file_share", "message_changed",
                                                 "message_deleted", "thread_broadcast",
                                                 "channel_join", "bot_message", "weird"]))
    if draw(st.booleans()):
        event["files"] = draw(st.lists(st.dictionaries(words, json_scalar, max_size=3),
                                       max_size=2))
    if draw(st.booleans()):
        event["message"] = draw(json_value)
    body = {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0APP",
            "type": "event_callback", "event_id": f"Ev{draw(st.integers(0, 2**40))}",
            "event_time": 1, "event": event,
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}]}
    return json.dumps(body)


FORM = "application/x-www-form-urlencoded"


@settings(**CHECKS)
@given(body=st.one_of(command(), block_action(), view_submission()))
def test_signed_interactions_never_make_a_handler_fail(app: App, body: str) -> None:
    status = app.call(_post(app.url, body, FORM))
    assert status < 500, body[:300]


@settings(**CHECKS)
@given(body=message_event())
def test_signed_events_never_fail_and_what_is_stored_is_processed(app: App, body: str) -> None:
    status = app.call(_post(app.url, body, "application/json"))
    assert status < 500, body[:300]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(command(), block_action(), message_event()),
       tamper=st.sampled_from(["secret", "stale", "garbage", "body"]))
def test_unsigned_or_tampered_requests_are_refused(app: App, body: str, tamper: str) -> None:
    ts = int(time.time())
    signature = {"secret": _sign(body, ts, "not-the-secret"), "garbage": "v0=zz",
                 "body": _sign(body + " ", ts), "stale": _sign(body, ts - 3600)}[tamper]
    if tamper == "stale":
        ts -= 3600
    status = app.call(_post(app.url, body, FORM, signature=signature, ts=ts))
    assert status == 401


def test_every_stored_slack_message_reaches_a_final_disposition(app: App) -> None:
    """Nothing stored is left behind, by the fuzzing above (same app) or a plain message."""
    from sqlalchemy import func, select

    from intake.cases.models import FAILED, PENDING, Message

    event = {"type": "message", "channel": INTAKE, "user": STAFF, "ts": "1700000000.000001",
             "text": "Complaint from a parent: the inspector was rude at Hillside Primary."}
    body = json.dumps({"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0APP",
                       "type": "event_callback", "event_id": "EvPlain1", "event_time": 1,
                       "event": event, "authorizations": [{"team_id": TEAM_ID}]})
    assert app.call(_post(app.url, body, "application/json")) == 200
    deadline = time.monotonic() + 30
    while True:
        with app.store.session() as session:
            left = session.scalar(select(func.count()).select_from(Message).where(
                Message.disposition.in_((PENDING, FAILED))))
            stored = session.scalar(select(func.count()).select_from(Message))
        if (stored and not left) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stored and stored > 0  # the plain message at least was stored
    assert left == 0
