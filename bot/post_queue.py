"""Sends queued Slack posts at Slack's pace (issue 5 item 7).

Slack allows about one message per second per channel and answers ``429`` with
``Retry-After`` beyond that. Every post goes through the ``slack_posts`` table and this
worker, which:

- sends in priority order (alerts first: they jump the queue), at most one call per
  channel per ``slack_post_interval_seconds``;
- on ``429`` pauses that channel for ``Retry-After`` seconds and retries the same post;
- when more than ``slack_burst_threshold`` new-case posts are waiting, posts one rolled-up
  summary instead, so the triage channel never falls minutes behind;
- stores the triage post's ``ts`` on the case, so later notes thread under it and later
  changes use ``chat.update``;
- keeps posts while Slack is unreachable and sends them when it is back.

A post is claimed with a conditional update before it is sent, so several processes
sharing one PostgreSQL database never send the same post twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update

from intake.cases.db import Store
from intake.cases.models import Case, Letter, SlackPost
from intake.settings import Settings

log = logging.getLogger(__name__)

BATCH = 200
LEASE = timedelta(seconds=120)  # a claimed post whose sender died is retried after this
MAX_API_ERRORS = 8  # Slack said no (not a 429) this often: the post is marked failed
MAX_BACKOFF_SECONDS = 600.0
ROLLUP_LIST = 50  # references named in a roll-up summary


class SlackUnreachable(Exception):
    """The Web API or the upload URL could not be reached."""


@dataclass
class ReadyPost:
    """A queued post with what is needed to send it, read in one transaction."""

    id: int
    method: str
    payload: dict[str, Any]
    purpose: str
    status: str
    attempts: int
    case_id: int | None
    case_ts: str | None = None
    parent_ts: str | None = None
    wait_for_parent: bool = False

    @property
    def channel(self) -> str | None:
        return self.payload.get("channel")

    @property
    def is_new_case_post(self) -> bool:
        return self.purpose == "triage" and self.method == "chat.postMessage"


def _public(payload: dict[str, Any]) -> dict[str, Any]:
    """Payload keys starting with "_" are ours, never sent to Slack."""
    return {k: v for k, v in payload.items() if not k.startswith("_")}


def _retry_after(exc: SlackApiError) -> float:
    try:
        return max(1.0, float(exc.response.headers.get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0


class SlackPostWorker:
    """Drains ``SlackPost`` rows; see the module docstring for the rules it keeps."""

    unreachable_retry = timedelta(seconds=5)  # how soon to try again when Slack is down

    def __init__(self, settings: Settings, store: Store, client: AsyncWebClient) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.interval = settings.slack_post_interval_seconds
        self._last_call: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._soonest: float | None = None

    def wake(self) -> None:
        """Look at the queue now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set; never raises."""
        while not stop.is_set():
            try:
                await self.drain_once()
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.exception("Slack post queue pass failed")
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        timeout = self.settings.worker_poll_seconds
        if self._soonest is not None:
            timeout = min(timeout, max(0.01, self._soonest))
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    # --- one pass ----------------------------------------------------------------------

    async def drain_once(self) -> int:
        """Send what may be sent now; return the number of Web API posts made."""
        self._soonest = None
        posts = await asyncio.to_thread(self._ready)
        if await asyncio.to_thread(self._roll_up_burst, posts):
            posts = await asyncio.to_thread(self._ready)
        sent = 0
        for post in posts:
            if post.wait_for_parent:
                continue
            key = post.channel or post.method
            wait = self._wait_for(key)
            if wait > 0:
                self._note_soonest(wait)
                continue
            if not await asyncio.to_thread(self._claim, post):
                continue
            self._last_call[key] = time.monotonic()
            try:
                result = await self._send(post)
            except SlackUnreachable as exc:
                await asyncio.to_thread(self._unreachable, post, str(exc))
                break
            except SlackApiError as exc:
                await asyncio.to_thread(self._api_error, post, exc, key)
                continue
            await asyncio.to_thread(self._sent, post, result)
            sent += 1
        return sent

    def _wait_for(self, key: str) -> float:
        now = time.monotonic()
        paused = self._paused_until.get(key, 0.0) - now
        spaced = self._last_call.get(key, -1e9) + self.interval - now
        return max(paused, spaced, 0.0)

    def _note_soonest(self, wait: float) -> None:
        self._soonest = wait if self._soonest is None else min(self._soonest, wait)

    # --- database (each runs in a worker thread) -------------------------------------

    def _ready(self) -> list[ReadyPost]:
        now = datetime.now(UTC)
        with self.store.session() as session:
            rows = session.scalars(
                select(SlackPost)
                .where(SlackPost.status.in_(("pending", "sending")),
                       SlackPost.next_attempt_at <= now)
                .order_by(SlackPost.priority, SlackPost.id).limit(BATCH)).all()
            return [self._prepare(session, row) for row in rows]

    def _prepare(self, session: Any, row: SlackPost) -> ReadyPost:
        post = ReadyPost(row.id, row.method, dict(row.payload), row.purpose, row.status,
                         row.attempts, row.case_id)
        case = session.get(Case, row.case_id) if row.case_id else None
        if case is None:
            return post
        post.case_ts = case.slack_ts
        if post.is_new_case_post and case.slack_ts:
            # Already posted (a retry or a second enqueue): update instead of re-posting.
            post.method = "chat.update"
            post.payload.update(channel=case.slack_channel or post.channel, ts=case.slack_ts)
        if post.payload.get("_thread_of_case"):
            post.parent_ts, post.wait_for_parent = self._parent(session, case)
        return post

    def _parent(self, session: Any, case: Case) -> tuple[str | None, bool]:
        """The ts to thread under, and whether to wait because it is not posted yet."""
        if case.slack_ts:
            return case.slack_ts, False
        triage = session.execute(
            select(SlackPost.status, SlackPost.result_ts)
            .where(SlackPost.case_id == case.id, SlackPost.purpose == "triage")
            .order_by(SlackPost.id.desc()).limit(1)).first()
        if triage is None or triage.status == "failed":
            return None, False  # no case post to thread under: post at top level
        if triage.result_ts:
            return triage.result_ts, False  # rolled up: thread under the summary
        return None, True

    def _claim(self, post: ReadyPost) -> bool:
        now = datetime.now(UTC)
        with self.store.session() as session:
            result = session.execute(
                update(SlackPost)
                .where(SlackPost.id == post.id, SlackPost.status == post.status,
                       SlackPost.next_attempt_at <= now)
                .values(status="sending", next_attempt_at=now + LEASE))
            return result.rowcount == 1  # type: ignore[attr-defined]

    def _sent(self, post: ReadyPost, result: dict[str, Any]) -> None:
        with self.store.session() as session:
            row = session.get(SlackPost, post.id)
            assert row is not None
            row.status, row.last_error = "sent", None
            row.result_ts = result.get("ts")
            if post.is_new_case_post and post.method == "chat.postMessage" and row.case_id:
                case = session.get(Case, row.case_id)
                if case is not None:
                    case.slack_channel, case.slack_ts = result.get("channel"), result.get("ts")
            rolled = post.payload.get("_rolled_up") or []
            if rolled:
                session.execute(update(SlackPost).where(SlackPost.id.in_(rolled))
                                .values(result_ts=result.get("ts")))
        log.info("slack %s sent (post %s, %s)", post.method, post.id, post.purpose)

    def _api_error(self, post: ReadyPost, exc: SlackApiError, key: str) -> None:
        status = getattr(exc.response, "status_code", None)
        with self.store.session() as session:
            row = session.get(SlackPost, post.id)
            assert row is not None
            if status == 429:
                wait = _retry_after(exc)
                self._paused_until[key] = time.monotonic() + wait
                self._note_soonest(wait)
                row.status, row.last_error = "pending", "ratelimited"
                row.next_attempt_at = datetime.now(UTC) + timedelta(seconds=wait)
                log.info("slack rate limited on %s: waiting %.0fs", key, wait)
                return
            data = exc.response.data
            error = str(data.get("error") if isinstance(data, dict) else f"HTTP {status}")
            row.attempts += 1
            row.last_error = error
            if row.attempts >= MAX_API_ERRORS:
                row.status = "failed"
                log.error("slack %s failed for good (post %s): %s", post.method, post.id,
                          error)
                return
            row.status = "pending"
            row.next_attempt_at = datetime.now(UTC) + self._backoff(row.attempts)
            log.warning("slack %s refused (post %s): %s", post.method, post.id, error)

    def _unreachable(self, post: ReadyPost, why: str) -> None:
        """Slack is down: keep the post, try again later, never give up."""
        with self.store.session() as session:
            row = session.get(SlackPost, post.id)
            assert row is not None
            row.status, row.last_error = "pending", f"unreachable: {why}"
            row.next_attempt_at = datetime.now(UTC) + self.unreachable_retry
        log.warning("Slack unreachable (%s); posts wait in the queue", why)

    @staticmethod
    def _backoff(attempts: int) -> timedelta:
        return timedelta(seconds=min(5.0 * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))

    # --- roll-up under a burst --------------------------------------------------------

    def _roll_up_burst(self, posts: list[ReadyPost]) -> bool:
        """Replace a burst of new-case posts by one summary; True when it did."""
        burst = [p for p in posts if p.is_new_case_post and p.status == "pending"
                 and not p.case_ts]
        if len(burst) <= self.settings.slack_burst_threshold:
            return False
        with self.store.session() as session:
            total = session.scalar(select(func.count()).select_from(SlackPost).where(
                SlackPost.status == "pending", SlackPost.purpose == "triage",
                SlackPost.method == "chat.postMessage"))
            if (total or 0) <= self.settings.slack_burst_threshold:
                return False
            ids = [p.id for p in burst]
            session.execute(update(SlackPost)
                            .where(SlackPost.id.in_(ids), SlackPost.status == "pending")
                            .values(status="rolled_up"))
            cases = session.scalars(select(Case).where(
                Case.id.in_([p.case_id for p in burst if p.case_id]))
                .order_by(Case.id)).all()
            channel = burst[0].channel or self.settings.slack_triage_channel
            session.add(SlackPost(method="chat.postMessage", purpose="digest", priority=4,
                                  payload={**rollup_message(cases, channel),
                                           "_rolled_up": ids}))
        log.info("slack burst: %d new-case posts rolled up into one summary", len(burst))
        return True

    # --- sending -----------------------------------------------------------------------

    async def _send(self, post: ReadyPost) -> dict[str, Any]:
        payload = _public(post.payload)
        if post.parent_ts:
            payload["thread_ts"] = post.parent_ts
        try:
            if post.method == "files.upload":
                return await self._upload_letter(post, payload)
            resp = await self.client.api_call(post.method, json=payload)
            return dict(resp.data) if isinstance(resp.data, dict) else {}
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SlackUnreachable(type(exc).__name__) from None

    async def _upload_letter(self, post: ReadyPost, payload: dict[str, Any]) -> dict[str, Any]:
        """Upload the letter's text and share it in the case thread (three-step upload)."""
        data = await asyncio.to_thread(self._letter_bytes, post.payload.get("_letter_id"))
        got = await self.client.files_getUploadURLExternal(filename=payload["filename"],
                                                           length=len(data))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.post(got["upload_url"], data=data) as resp:
                if resp.status != 200:
                    raise aiohttp.ClientResponseError(resp.request_info, (),
                                                      status=resp.status)
        done = await self.client.files_completeUploadExternal(
            files=[{"id": got["file_id"], "title": payload.get("title")}],
            channel_id=payload["channel"], thread_ts=payload.get("thread_ts"),
            initial_comment=payload.get("initial_comment"))
        return {"file_id": got["file_id"], "ok": done.get("ok")}

    def _letter_bytes(self, letter_id: int | None) -> bytes:
        with self.store.session() as session:
            letter = session.get(Letter, letter_id) if letter_id else None
            if letter is None:
                return b"This letter is no longer stored (it may have been purged).\n"
            return letter.body_text.encode("utf-8")


def rollup_message(cases: list[Case] | Any, channel: str | None) -> dict[str, Any]:
    """One summary post for a burst: counts and references, structured fields only."""
    cases = list(cases)
    by_regime: dict[str, int] = {}
    for case in cases:
        by_regime[case.regime] = by_regime.get(case.regime, 0) + 1
    urgent = [c.reference for c in cases if c.safeguarding]
    refs = [c.reference for c in cases[:ROLLUP_LIST]]
    more = len(cases) - len(refs)
    lines = [f"*{len(cases)} new cases* arrived faster than they can be posted one by one.",
             "By regime: " + ", ".join(f"{k} {v}" for k, v in sorted(by_regime.items())),
             "References: " + ", ".join(refs) + (f" and {more} more" if more > 0 else "")]
    if urgent:
        lines.append(":rotating_light: Safeguarding: " + ", ".join(urgent))
    lines.append("Use `/complaints` to list them; notes on these cases go in this thread.")
    text = "\n".join(lines)
    return {"channel": channel, "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
