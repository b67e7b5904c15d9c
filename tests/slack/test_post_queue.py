"""The Slack post queue against the fake Web API: pacing, 429s, bursts, alerts, outages."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import web_client
from bot.notify import (
    case_content,
    enqueue_alert,
    enqueue_case_post,
    enqueue_thread_note,
    summary_blocks,
)
from bot.post_queue import SlackPostWorker
from intake.cases.db import Store, upgrade
from intake.cases.models import Alert, Case, Complainant, SlackPost
from intake.settings import Settings
from tests.slack.conftest import TRIAGE_CHANNEL
from tests.slack.fake_slack import FakeSlack

_numbers = itertools.count(1)


@pytest.fixture
async def queue(slack_settings: Settings,
                db_url: str) -> AsyncIterator[tuple[Store, SlackPostWorker]]:
    """The worker on a fresh store, once on SQLite and once on PostgreSQL."""
    await asyncio.to_thread(upgrade, db_url)
    store = Store(db_url)
    worker = SlackPostWorker(slack_settings, store, web_client(slack_settings))
    yield store, worker
    store.dispose()


def new_case(store: Store, settings: Settings, *, safeguarding: bool = False) -> int:
    """A case with its triage post queued, as the pipeline leaves it."""
    with store.session() as session:
        case = Case(reference=f"OFS-2026-{next(_numbers):05d}", channel="email",
                    received_at=datetime.now(UTC), intent="complaint", regime="ofsted",
                    aspects=["conduct"], inspectorates=["ofsted"], safeguarding=safeguarding,
                    deadline_summary={"acknowledge_by": "2026-11-24", "rule": "R1"})
        session.add(case)
        session.flush()
        enqueue_case_post(session, case, settings)
        return case.id


def with_case(store: Store, case_id: int, fn: object, *args: object, **kw: object) -> None:
    with store.session() as session:
        case = session.get(Case, case_id)
        fn(session, case, *args, **kw)  # type: ignore[operator]


def posts(store: Store) -> list[SlackPost]:
    with store.session() as session:
        return list(session.scalars(select(SlackPost).order_by(SlackPost.id)))


async def drain(worker: SlackPostWorker, store: Store, timeout: float = 10.0) -> None:
    """Run passes until nothing is pending (the worker paces itself)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while any(p.status in ("pending", "sending") for p in posts(store)):
        assert loop.time() < end, [(p.purpose, p.status, p.last_error) for p in posts(store)]
        await worker.drain_once()
        await asyncio.sleep(0.02)


async def test_triage_post_ts_is_kept_so_notes_thread_and_changes_update(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack,
        slack_settings: Settings) -> None:
    store, worker = queue
    case_id = new_case(store, slack_settings)
    with_case(store, case_id, enqueue_thread_note, "New reply (message 7).",
              purpose="reply", settings=slack_settings)
    await drain(worker, store)
    first, note = fake_slack.calls_to("chat.postMessage")
    assert first.params["channel"] == TRIAGE_CHANNEL and "thread_ts" not in first.params
    ts = first.response["ts"]
    assert note.params["thread_ts"] == ts
    assert not any(k.startswith("_") for k in note.params)
    with store.session() as session:
        case = session.get(Case, case_id)
        assert case is not None and (case.slack_channel, case.slack_ts) == (TRIAGE_CHANNEL, ts)
        enqueue_case_post(session, case, slack_settings)
    await drain(worker, store)
    [update] = fake_slack.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (TRIAGE_CHANNEL, ts)
    assert len(fake_slack.calls_to("chat.postMessage")) == 2


async def test_case_post_has_structured_fields_only(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack,
        slack_settings: Settings) -> None:
    store, worker = queue
    with store.session() as session:
        person = Complainant(name="Jane Smith", email="jane@example.org")
        session.add(person)
        session.flush()
        case = Case(reference="OFS-2026-09999", channel="email", received_at=datetime.now(UTC),
                    intent="complaint", regime="ofsted", aspects=["conduct"],
                    inspectorates=["ofsted"], complainant_id=person.id,
                    fields={"desired_outcome": "a private remedy"},
                    deadline_summary={"acknowledge_by": "2026-11-24", "rule": "R1"})
        session.add(case)
        session.flush()
        enqueue_case_post(session, case, slack_settings)
        expected, _ = case_content(case)
        fallback = str(summary_blocks(case))
    await drain(worker, store)
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["blocks"] == expected
    shown = str(post.params["blocks"]) + post.params["text"]
    assert "OFS-2026-09999" in shown
    for private in ("Jane Smith", "jane@example.org", "a private remedy"):
        assert private not in shown and private not in fallback
    for fact in ("OFS-2026-09999", "complaint", "ofsted", "conduct", "2026-11-24", "R1"):
        assert fact in fallback


async def test_429_retry_after_is_honoured(queue: tuple[Store, SlackPostWorker],
                                           fake_slack: FakeSlack,
                                           slack_settings: Settings) -> None:
    store, worker = queue
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    new_case(store, slack_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        [ok] = await fake_slack.wait_for("chat.postMessage", timeout=5)
    finally:
        stop.set()
        await task
    limited = [c for c in fake_slack.calls if c.status == 429]
    assert len(limited) == 1
    assert ok.at - limited[0].at >= 0.95  # waited for Retry-After, no hammering
    assert [p.status for p in posts(store)] == ["sent"]


@pytest.mark.slack_settings(slack_post_interval_seconds=0.3)
async def test_one_post_per_interval_per_channel(queue: tuple[Store, SlackPostWorker],
                                                 fake_slack: FakeSlack,
                                                 slack_settings: Settings) -> None:
    store, worker = queue
    for _ in range(3):
        new_case(store, slack_settings)
    with store.session() as session:
        session.add(SlackPost(method="chat.postMessage", purpose="digest", priority=5,
                              payload={"channel": "C0OTHER", "text": "other channel"}))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await fake_slack.wait_for("chat.postMessage", count=4, timeout=5)
    finally:
        stop.set()
        await task
    calls = fake_slack.calls_to("chat.postMessage")
    triage = [c.at for c in calls if c.params["channel"] == TRIAGE_CHANNEL]
    assert all(b - a >= 0.28 for a, b in itertools.pairwise(triage))
    other = next(c.at for c in calls if c.params["channel"] == "C0OTHER")
    assert other < triage[1]  # another channel is not held up by the triage pace


@pytest.mark.slack_settings(slack_burst_threshold=5)
async def test_burst_is_rolled_up_and_alert_jumps_the_queue(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack,
        slack_settings: Settings) -> None:
    store, worker = queue
    ids = [new_case(store, slack_settings) for _ in range(12)]
    with store.session() as session:
        case = session.get(Case, ids[3])
        assert case is not None
        alert = Alert(case_id=case.id, kind="safeguarding", token="tok-1")
        session.add(alert)
        session.flush()
        enqueue_alert(session, case, alert, slack_settings)
        enqueue_thread_note(session, case, "Letter approved.", purpose="thread",
                            settings=slack_settings)
    await drain(worker, store)
    calls = fake_slack.calls_to("chat.postMessage")
    assert len(calls) == 3  # alert, one summary, the note; not twelve case posts
    alert_call, summary, note = calls
    assert "URGENT safeguarding" in alert_call.params["text"]
    assert "12 new cases" in summary.params["text"]
    assert note.params["thread_ts"] == summary.response["ts"]
    statuses = [p.status for p in posts(store) if p.purpose == "triage"]
    assert statuses == ["rolled_up"] * 12


async def test_posts_wait_while_slack_is_down_and_go_when_it_is_back(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack,
        slack_settings: Settings) -> None:
    store, worker = queue
    worker.unreachable_retry = timedelta(seconds=0.2)
    fake_slack.down = True
    new_case(store, slack_settings)
    assert await worker.drain_once() == 0
    [post] = posts(store)
    assert post.status == "pending" and "unreachable" in (post.last_error or "")
    fake_slack.down = False
    await asyncio.sleep(0.25)
    await drain(worker, store)
    assert [p.status for p in posts(store)] == ["sent"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_slack_refusal_is_retried_with_backoff_then_failed(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack,
        slack_settings: Settings) -> None:
    store, worker = queue
    fake_slack.fail("chat.postMessage", "channel_not_found")
    new_case(store, slack_settings)
    await worker.drain_once()
    [post] = posts(store)
    assert (post.status, post.attempts, post.last_error) == ("pending", 1,
                                                             "channel_not_found")
    assert post.next_attempt_at > datetime.now(UTC)
    with store.session() as session:
        row = session.get(SlackPost, post.id)
        assert row is not None
        row.attempts, row.next_attempt_at = 7, datetime.now(UTC)
    await asyncio.sleep(slack_settings.slack_post_interval_seconds * 2)
    await worker.drain_once()
    assert posts(store)[0].status == "failed"


async def test_two_workers_never_send_the_same_post(queue: tuple[Store, SlackPostWorker],
                                                    fake_slack: FakeSlack,
                                                    slack_settings: Settings) -> None:
    store, worker = queue
    other = SlackPostWorker(slack_settings, store, web_client(slack_settings))
    with store.session() as session:
        for i in range(8):
            session.add(SlackPost(method="chat.postMessage", purpose="digest", priority=5,
                                  payload={"channel": f"C0CH{i}", "text": f"post {i}"}))
    sent = await asyncio.gather(worker.drain_once(), other.drain_once())
    assert sum(sent) == 8
    texts = sorted(c.params["text"] for c in fake_slack.calls_to("chat.postMessage"))
    assert texts == sorted(f"post {i}" for i in range(8))


async def test_a_post_claimed_by_a_worker_that_died_is_sent_after_its_lease(
        queue: tuple[Store, SlackPostWorker], fake_slack: FakeSlack) -> None:
    store, worker = queue
    with store.session() as session:
        session.add(SlackPost(method="chat.postMessage", purpose="digest", status="sending",
                              next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
                              payload={"channel": "C0X", "text": "orphan"}))
        session.add(SlackPost(method="chat.postMessage", purpose="digest", status="sending",
                              next_attempt_at=datetime.now(UTC) + timedelta(minutes=2),
                              payload={"channel": "C0Y", "text": "still leased"}))
    assert await worker.drain_once() == 1
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.params["text"] == "orphan"
