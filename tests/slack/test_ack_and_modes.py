"""Every request is acknowledged fast, even with a slow database; Socket Mode works too."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select

from bot.app import LISTENER_MODULES, build_app, register_listeners
from bot.server import SlackRunner
from intake.cases.db import Store, upgrade
from intake.cases.models import Message
from intake.settings import Settings, override_settings
from tests.slack.conftest import INTAKE_CHANNEL, STAFF_USER, SlackHarness
from tests.slack.fake_slack import APP_TOKEN, FakeSlack
from tests.slack.test_phone_modal import CALL, form

ACK_LIMIT = 3.0  # Slack's deadline
FAST = 1.5  # what we require: half of it, and less than one slowed SQL statement


@pytest.fixture
def slow_database(slack_bot: SlackHarness) -> Iterator[None]:
    """Every SQL statement on the bot's store takes 2 s longer (longer than FAST).

    Switched off rather than removed at the end: statements still running in worker
    threads are iterating the engine's listeners, and removing one under them raises."""
    slow = threading.Event()
    slow.set()

    def crawl(*_args: object) -> None:
        if slow.is_set():
            time.sleep(2.0)

    event.listen(slack_bot.store.engine, "before_cursor_execute", crawl)
    yield
    slow.clear()


def message(text: str = "The inspector shouted at our staff during the inspection.") -> dict:
    return {"type": "message", "channel": INTAKE_CHANNEL, "user": "U0PERSON", "text": text,
            "ts": f"{time.time():.6f}", "channel_type": "channel"}


async def test_every_request_kind_is_acked_fast_when_the_database_is_slow(
        slack_bot: SlackHarness, slow_database: None) -> None:
    req = slack_bot.requests
    shortcut_msg = {**message(), "ts": "1700000999.000100"}
    replies = {
        "event": await req.event(message()),
        "command": await req.command("/phone-complaint", user_id="U0OP"),
        "global shortcut": await req.shortcut("log_phone_complaint", user_id="U0OP"),
        "message shortcut": await req.message_shortcut(
            "log_as_complaint", user_id=STAFF_USER, channel_id="C0X", message=shortcut_msg),
        "view submission": await req.view_submission(
            "phone_complaint", form(**CALL, email="sam@example.org"), user_id="U0OP"),
        "block action": await req.block_action("no_such_action", "1", user_id="U0OP"),
    }
    for kind, reply in replies.items():
        assert reply.elapsed < FAST < ACK_LIMIT, f"{kind} took {reply.elapsed:.2f}s"
    assert all(r.status == 200 for r in replies.values())
    assert replies["view submission"].json["response_action"] == "update"
    # The work still happens after the acks, just later: all three inputs get stored (each
    # may queue behind a pipeline batch whose every statement is slowed too).
    await slack_bot.fake.wait_until(lambda: len(slack_bot.accepted) >= 3, timeout=90,
                                    what="three stored inputs")


async def test_ack_latency_figures(slack_bot: SlackHarness) -> None:
    """Signed events one after another: p50 and p99 of the time to Slack's answer."""
    times = []
    for i in range(60):
        reply = await slack_bot.requests.event(message(f"Complaint number {i} about conduct."))
        assert reply.status == 200
        times.append(reply.elapsed)
    times.sort()
    p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
    print(f"\nslack ack latency over {len(times)} events: p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    assert p99 < FAST  # the figure itself is reported in docs/slack-setup.md
    await slack_bot.wait_processed(60, timeout=60)


async def test_socket_mode_receives_events_and_acks_envelopes(
        fake_slack: FakeSlack, slack_settings: Settings) -> None:
    with override_settings(**{**slack_settings.model_dump(), "slack_app_token": APP_TOKEN,
                              "slack_signing_secret": None}) as settings:
        assert settings.slack_mode == "socket"
        await asyncio.to_thread(upgrade, settings.database_url)
        store = Store(settings.database_url)
        accepted: list[int] = []
        runner = SlackRunner(settings, store, accepted.append)
        await runner.start()
        try:
            assert fake_slack.calls_to("apps.connections.open")
            assert fake_slack.socket_envelopes is not None
            await fake_slack.socket_envelopes.put({
                "envelope_id": "env-1", "type": "events_api",
                "accepts_response_payload": False,
                "payload": {"type": "event_callback", "team_id": "T0TEST",
                            "event_id": "EvSOCKET", "event": message()}})
            await fake_slack.wait_until(lambda: bool(accepted), timeout=10,
                                        what="a stored message")
        finally:
            await runner.stop()
        assert {"envelope_id": "env-1"}.items() <= fake_slack.socket_acks[0].items()
        with store.session() as session:
            [msg] = session.scalars(select(Message)).all()
            assert (msg.channel, msg.external_id) == ("slack", "EvSOCKET")
        store.dispose()


async def test_slack_unreachable_at_start_keeps_running(fake_slack: FakeSlack,
                                                        slack_bot_settings_down: None,
                                                        slack_settings: Settings) -> None:
    await asyncio.to_thread(upgrade, slack_settings.database_url)
    store = Store(slack_settings.database_url)
    runner = SlackRunner(slack_settings, store, lambda _id: None)
    await runner.start()  # auth.test cannot be reached: logged, not raised
    try:
        assert runner.services.identity == {}
        fake_slack.down = False
        from tests.slack.conftest import SlackRequests

        req = SlackRequests(f"http://127.0.0.1:{runner.port}/slack/events")
        reply = await req.event(message())
        assert reply.status == 200
        for _ in range(100):
            with store.session() as session:
                if session.scalars(select(Message)).all():
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("message not stored")
    finally:
        await runner.stop()
        store.dispose()


@pytest.fixture
def slack_bot_settings_down(fake_slack: FakeSlack) -> None:
    fake_slack.down = True


def test_every_listener_module_registers(slack_settings: Settings,
                                         sqlite_store: Store) -> None:
    app = build_app(slack_settings, sqlite_store, on_accept=lambda _id: None)
    assert register_listeners(app) == list(LISTENER_MODULES)
    assert {"bot.intake", "bot.phone_modal", "bot.actions", "bot.commands"} <= set(
        LISTENER_MODULES)


def test_slack_off_is_refused_by_the_app_factory(sqlite_store: Store) -> None:
    with override_settings() as settings, pytest.raises(ValueError, match="not configured"):
        build_app(settings, sqlite_store, on_accept=lambda _id: None)
