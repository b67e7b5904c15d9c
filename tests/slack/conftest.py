"""Harness for Slack tests: the real Bolt app over HTTP on loopback, signed requests, and a
fake Slack Web API that records every call.

Fixtures:

- ``fake_slack``: a started :class:`~tests.slack.fake_slack.FakeSlack`.
- ``slack_settings``: settings pointing the app at the fake, HTTP mode on a free port,
  intake channel ``C0INTAKE``, triage channel ``C0TRIAGE``, staff ``U0STAFF`` and the user
  group ``S0TRIAGE`` (members ``U0GROUPIE``), fast post pacing for tests.
- ``slack_bot``: a :class:`SlackHarness`: the :class:`bot.server.SlackRunner` serving the
  real app, the real pipeline worker woken by ``on_accept``, the store, and
  :class:`SlackRequests` to send correctly signed events, commands, shortcuts, view
  submissions and block actions (or deliberately bad ones).

Tests choose settings with ``@pytest.mark.slack_settings(key=value, ...)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from intake import settings as settings_mod
from intake.cases.db import Store, upgrade
from intake.settings import Settings
from tests.slack.fake_slack import BOT_TOKEN, TEAM_ID, FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
INTAKE_CHANNEL = "C0INTAKE"
TRIAGE_CHANNEL = "C0TRIAGE"
STAFF_USER = "U0STAFF"
STAFF_GROUP = "S0TRIAGE"
GROUP_MEMBER = "U0GROUPIE"
OUTSIDER = "U0OUTSIDER"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slack_settings(**kw): settings for the Slack harness")


@dataclass
class Reply:
    status: int
    text: str
    elapsed: float  # seconds from sending to the full answer

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackRequests:
    """Sends requests to ``/slack/events`` the way Slack does, signed with v0 signatures."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.secret = secret

    def sign(self, body: str, timestamp: int) -> str:
        base = f"v0:{timestamp}:{body}".encode()
        return "v0=" + hmac.new(self.secret.encode(), base, hashlib.sha256).hexdigest()

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None,
                   signature: str | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        ts = int(time.time()) if timestamp is None else timestamp
        sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
                "X-Slack-Signature": signature or self.sign(body, ts), **(headers or {})}
        start = time.perf_counter()
        async with aiohttp.ClientSession() as http:
            async with http.post(self.url, data=body.encode(), headers=sent) as resp:
                text = await resp.text()
        return Reply(resp.status, text, time.perf_counter() - start)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    retry_num: int | None = None, **kw: Any) -> Reply:
        body = {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0APP",
                "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}]}
        headers = kw.pop("headers", {}) or {}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num),
                            "X-Slack-Retry-Reason": "http_timeout"})
        return await self.post(json.dumps(body), "application/json", headers=headers, **kw)

    async def command(self, command: str, *, user_id: str, text: str = "",
                      channel_id: str = "C0OPS", **kw: Any) -> Reply:
        form = {"token": "legacy", "team_id": TEAM_ID, "channel_id": channel_id,
                "user_id": user_id, "command": command, "text": text,
                "response_url": "http://127.0.0.1:9/unused",
                "trigger_id": f"trig.{uuid.uuid4().hex[:8]}", "api_app_id": "A0APP"}
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> Reply:
        payload = {"team": {"id": TEAM_ID}, "api_app_id": "A0APP", "token": "legacy",
                   **payload}
        return await self.post(urlencode({"payload": json.dumps(payload)}),
                               "application/x-www-form-urlencoded", **kw)

    async def shortcut(self, callback_id: str, *, user_id: str, **kw: Any) -> Reply:
        return await self.interactive({"type": "shortcut", "callback_id": callback_id,
                                       "user": {"id": user_id},
                                       "trigger_id": f"trig.{uuid.uuid4().hex[:8]}"}, **kw)

    async def message_shortcut(self, callback_id: str, *, user_id: str, channel_id: str,
                               message: dict[str, Any], **kw: Any) -> Reply:
        return await self.interactive({
            "type": "message_action", "callback_id": callback_id, "user": {"id": user_id},
            "channel": {"id": channel_id}, "message": message, "message_ts": message["ts"],
            "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
            "response_url": "http://127.0.0.1:9/unused"}, **kw)

    async def view_submission(self, callback_id: str, values: dict[str, Any], *,
                              user_id: str, view_id: str = "V0PHONE", **kw: Any) -> Reply:
        return await self.interactive({
            "type": "view_submission", "user": {"id": user_id},
            "view": {"id": view_id, "type": "modal", "callback_id": callback_id,
                     "state": {"values": values}, "hash": "h1"}}, **kw)

    async def block_action(self, action_id: str, value: str, *, user_id: str,
                           channel_id: str = TRIAGE_CHANNEL, block_id: str = "b1",
                           message_ts: str = "1700000001.000100", **kw: Any) -> Reply:
        return await self.interactive({
            "type": "block_actions", "user": {"id": user_id},
            "channel": {"id": channel_id}, "container": {"type": "message",
                                                        "message_ts": message_ts},
            "message": {"ts": message_ts, "text": ""},
            "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
            "response_url": "http://127.0.0.1:9/unused",
            "actions": [{"action_id": action_id, "block_id": block_id, "value": value,
                         "type": "button", "action_ts": str(time.time())}]}, **kw)


@dataclass
class SlackHarness:
    runner: Any  # bot.server.SlackRunner
    fake: FakeSlack
    store: Store
    settings: Settings
    requests: SlackRequests
    accepted: list[int] = field(default_factory=list)

    async def wait_processed(self, count: int = 1, timeout: float = 10.0) -> list[int]:
        """Wait until ``count`` messages were stored and processed by the pipeline."""
        from intake.cases.models import PENDING, Message

        def done() -> bool:
            with self.store.session() as session:
                rows = session.query(Message).filter(Message.id.in_(self.accepted)).all()
                return len(rows) >= count and all(r.disposition != PENDING for r in rows)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.accepted) >= count and await asyncio.to_thread(done):
                return list(self.accepted)
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {len(self.accepted)} message(s) processed in time")


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.usergroups[STAFF_GROUP] = [GROUP_MEMBER]
    yield fake
    await fake.stop()


@pytest.fixture
def slack_settings(request: pytest.FixtureRequest, fake_slack: FakeSlack, tmp_path: Any,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    import os

    for key in list(os.environ):
        if key.startswith(("INTAKE_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    marker = request.node.get_closest_marker("slack_settings")
    chosen: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'intake.db'}",
        "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake_slack.url, "slack_port": 0,
        "slack_intake_channel": INTAKE_CHANNEL, "slack_triage_channel": TRIAGE_CHANNEL,
        "slack_staff": [STAFF_USER, STAFF_GROUP], "slack_post_interval_seconds": 0.05,
        "worker_poll_seconds": 0.05, "mailboxes": ["enquiries@example.org"],
        **(marker.kwargs if marker else {}),
    }
    with settings_mod.override_settings(**chosen) as s:
        yield s


@pytest.fixture
async def slack_bot(slack_settings: Settings, fake_slack: FakeSlack) -> AsyncIterator[
        SlackHarness]:
    """The real app served over HTTP, with the real pipeline worker behind it."""
    from bot.server import SlackRunner
    from intake.pipeline import PipelineWorker

    await asyncio.to_thread(upgrade, slack_settings.database_url)
    store = Store(slack_settings.database_url)
    worker = PipelineWorker(store, slack_settings)
    stop = asyncio.Event()
    pipeline = asyncio.create_task(worker.run(stop))
    accepted: list[int] = []

    def on_accept(message_id: int) -> None:
        accepted.append(message_id)
        worker.wake(message_id)

    runner = SlackRunner(slack_settings, store, on_accept)
    await runner.start()
    url = f"http://127.0.0.1:{runner.port}/slack/events"
    harness = SlackHarness(runner, fake_slack, store, slack_settings, SlackRequests(url),
                           accepted)
    try:
        yield harness
    finally:
        await runner.stop()
        stop.set()
        await asyncio.wait([pipeline], timeout=10)
        store.dispose()
