"""The shipped manifest matches the app: every command, shortcut and event it lists has a
listener (the server logs each request it acknowledges without one), and its scopes cover
every method."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.slack.conftest import STAFF_USER, SlackHarness
from tests.slack.fake_slack import ALLOWED_METHODS

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"

# Bot scope each allowed Web API method needs (Slack's method reference).
SCOPE_FOR = {
    "chat.postMessage": "chat:write", "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write", "users.info": "users:read",
    "usergroups.users.list": "usergroups:read", "conversations.info": "channels:read",
    "files.getUploadURLExternal": "files:write", "files.completeUploadExternal": "files:write",
}
SCOPE_FOR_EVENT = {"message.channels": "channels:history", "message.groups": "groups:history",
                   "message.im": "im:history"}
NO_SCOPE = {"auth.test", "views.open", "views.update", "views.publish"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_scopes_cover_every_method_and_event(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert set(SCOPE_FOR) | NO_SCOPE == ALLOWED_METHODS
    assert {SCOPE_FOR[m] for m in SCOPE_FOR} <= scopes
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {SCOPE_FOR_EVENT[e] for e in events if e in SCOPE_FOR_EVENT} <= scopes
    assert "commands" in scopes


def test_every_url_is_the_events_endpoint(manifest: dict[str, Any]) -> None:
    urls = [c["url"] for c in manifest["features"]["slash_commands"]]
    urls += [manifest["settings"]["event_subscriptions"]["request_url"],
             manifest["settings"]["interactivity"]["request_url"]]
    assert all(url.endswith("/slack/events") for url in urls)


def unhandled(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Requests the server acknowledged without a listener (it answers those 200 too)."""
    return [r.getMessage() for r in caplog.records if "no listener" in r.getMessage()]


async def test_every_command_and_shortcut_has_a_listener(
        manifest: dict[str, Any], slack_bot: SlackHarness,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.server")
    req = slack_bot.requests
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert {"/phone-complaint", "/complaints"} <= set(commands)
    assert (await req.command("/not-ours", user_id=STAFF_USER)).status == 200
    assert len(unhandled(caplog)) == 1  # the check bites
    caplog.clear()
    for command in commands:
        reply = await req.command(command, user_id=STAFF_USER)
        assert reply.status == 200, command
    message = {"type": "message", "user": "U0W", "text": "x", "ts": "1700000000.000100"}
    for shortcut in manifest["features"]["shortcuts"]:
        if shortcut["type"] == "global":
            reply = await req.shortcut(shortcut["callback_id"], user_id=STAFF_USER)
        else:
            reply = await req.message_shortcut(shortcut["callback_id"], user_id=STAFF_USER,
                                               channel_id="C0X", message=message)
        assert reply.status == 200, shortcut["callback_id"]
    assert unhandled(caplog) == []


async def test_every_subscribed_event_has_a_listener(
        manifest: dict[str, Any], slack_bot: SlackHarness,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.server")
    samples = {
        "app_home_opened": {"type": "app_home_opened", "user": STAFF_USER, "tab": "home",
                            "channel": "D0HOME"},
        "message.channels": {"type": "message", "channel": "C0ELSE", "user": "U0W",
                             "text": "hello", "ts": f"{time.time():.6f}",
                             "channel_type": "channel"},
        "message.groups": {"type": "message", "channel": "G0PRIV", "user": "U0W",
                           "text": "hello", "ts": f"{time.time():.6f}",
                           "channel_type": "group"},
        "message.im": {"type": "message", "channel": "D0DM", "user": "U0W",
                       "text": "hello", "ts": f"{time.time():.6f}", "channel_type": "im"},
    }
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        reply = await slack_bot.requests.event(samples[name])
        assert reply.status == 200, name
    assert unhandled(caplog) == []
