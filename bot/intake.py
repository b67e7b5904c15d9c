"""Slack intake: intake-channel messages, DMs to the bot and the "Log as complaint" shortcut.

Each becomes an :class:`~intake.records.IntakeRecord` on channel ``slack`` and goes through
the same pipeline as email (issue 5 item 2). The edge stays thin, as with SMTP: a message
event is stored before Slack gets its answer when the database takes it within a second
(:func:`store_before_ack`; a refusal asks Slack to send it again), and the pipeline is
woken. Loops are impossible because the bot ignores its own and other bots' messages.
Edits and deletions are recorded in the audit trail, never turned into new cases, and a
Slack retry carries the same ``event_id``, so the pipeline marks it a duplicate.

:func:`parse_slack` turns the stored JSON back into a :class:`ParsedMessage`.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from sqlalchemy import select

from bot.access import refuse
from bot.app import BotServices, services
from bot.errors import SLACK_CALL_FAILED
from intake.cases.db import Store
from intake.cases.models import AuditEntry, Case, Message
from intake.errors import InputError
from intake.pipeline import StoreUnavailable
from intake.records import Contact, IntakeRecord, ParsedMessage
from intake.settings import Settings

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK = "log_as_complaint"
EDIT_SUBTYPES = frozenset({"message_changed", "message_deleted"})
# Message subtypes that carry someone's own words; joins, topics etc. are not complaints.
# (A thread_broadcast is a reply in a thread, so it is conversation, not intake.)
INTAKE_SUBTYPES = frozenset({None, "file_share"})

# Waits between attempts to store an input that the database refused (about 30 s in all).
STORE_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


# --- parsing (used by the pipeline) ---------------------------------------------------


def parse_slack(raw: bytes) -> ParsedMessage:
    """Read a stored Slack event or shortcut payload; InputError when it has no message."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("Slack payload is not valid JSON") from None
    if not isinstance(body, dict):
        raise InputError("Slack payload is not a JSON object")
    message = body.get("event") or body.get("message")
    if not isinstance(message, dict):
        raise InputError("Slack payload has no message")
    text = message_text(message)
    if not text.strip():
        raise InputError("Slack message has no text")
    user = str(message.get("user") or (body.get("user") or {}).get("id") or "")
    channel = _channel_id(body, message)
    return ParsedMessage(
        text=text, new_text=text, from_header=user or None,
        contact=Contact(email=first_email(message, text)),
        headers={"slack_channel": channel, "slack_ts": message.get("ts"),
                 "slack_user": user, "slack_team": body.get("team_id")
                 or (body.get("team") or {}).get("id")},
        notes=_file_notes(message),
        sent_date=_ts_datetime(message.get("ts")),
    )


def message_text(message: dict[str, Any]) -> str:
    """The message's words plus any attached or forwarded message text, unescaped.

    When ``text`` is empty (a client that sent only rich-text blocks), the words are read
    from the blocks instead, so such a message is a case, not an empty quarantined one.
    """
    parts = [message.get("text") or blocks_text(message.get("blocks"))]
    for att in message.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        if att.get("author_name") and att.get("is_share"):
            parts.append(f"Forwarded message from {att['author_name']}:")
        for key in ("pretext", "title", "text"):
            if att.get(key):
                parts.append(str(att[key]))
        if not att.get("text") and att.get("fallback"):
            parts.append(str(att["fallback"]))
    return "\n\n".join(unescape(p) for p in parts if p).strip()


def unescape(text: str) -> str:
    """Slack mrkdwn to plain text: links to their label or address, entities decoded."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("mailto:"):
            return target.removeprefix("mailto:")
        if target.startswith("#"):  # a channel
            return "#" + (label or target[1:]).lstrip("#")
        if target.startswith("@"):  # a person
            return "@" + (label or target[1:]).lstrip("@")
        if target.startswith("!"):  # @here, a user group, a date: its own fallback text
            if label:
                return label if target.startswith("!date") else "@" + label.lstrip("@")
            return "@" + target[1:].split("^")[0]
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(_LINK.sub(link, text))


def blocks_text(blocks: Any) -> str:
    """The plain words of a message's rich-text blocks (links, mentions, emoji included)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind in ("text", "link"):
            out.append(str(node.get("text") or node.get("url") or ""))
        elif kind == "user":
            out.append(f"@{node.get('user_id', '')}")
        elif kind == "channel":
            out.append(f"#{node.get('channel_id', '')}")
        elif kind == "usergroup":
            out.append(f"@{node.get('usergroup_id', '')}")
        elif kind == "broadcast":
            out.append(f"@{node.get('range', '')}")
        elif kind == "emoji":
            out.append(f":{node.get('name', '')}:")
        walk(node.get("elements"))
        if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote",
                    "rich_text_list"):
            out.append("\n")

    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "rich_text":
            walk(block.get("elements"))
    return "".join(out).strip()


def first_email(message: dict[str, Any], text: str) -> str | None:
    """The first email address the message gives (where a letter could go)."""
    raw = message.get("text") or ""
    mailto = re.search(r"<mailto:([^|>]+)", raw)
    if mailto:
        return mailto.group(1).strip().lower()
    found = _EMAIL.search(text)
    return found.group(0).lower().rstrip(".") if found else None


def _channel_id(body: dict[str, Any], message: dict[str, Any]) -> str | None:
    channel = message.get("channel") or body.get("channel")
    if isinstance(channel, dict):
        return channel.get("id")
    return channel


def _file_notes(message: dict[str, Any]) -> list[str]:
    files = [f for f in message.get("files") or [] if isinstance(f, dict)]
    if not files:
        return []
    return [f"{len(files)} Slack file(s) attached, not downloaded: open the message in Slack"]


def _ts_datetime(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --- deciding what is intake ----------------------------------------------------------


def is_from_a_bot(event: dict[str, Any]) -> bool:
    """Our own and other bots' messages never become cases (no loops)."""
    return bool(event.get("bot_id") or event.get("bot_profile")
                or event.get("subtype") == "bot_message")


def is_intake_message(event: dict[str, Any], intake_channel: str | None) -> bool:
    """A person's top-level message in the intake channel or in a DM to the bot."""
    if is_from_a_bot(event) or event.get("subtype") not in INTAKE_SUBTYPES:
        return False
    if not event.get("user"):
        return False
    thread_ts = event.get("thread_ts")
    if thread_ts and thread_ts != event.get("ts"):
        # A reply in a thread (with a file, or also sent to the channel) is conversation
        # about a message, not a new complaint.
        return False
    if event.get("channel_type") == "im":
        return True
    return bool(intake_channel) and event.get("channel") == intake_channel


# --- storing ---------------------------------------------------------------------------


def slack_record(external_id: str, payload: dict[str, Any], user: str) -> IntakeRecord:
    return IntakeRecord(channel="slack", external_id=external_id,
                        received_at=datetime.now(UTC),
                        raw=json.dumps(payload, separators=(",", ":")).encode(), sender=user)


async def store_record(svc: BotServices, record: IntakeRecord, *, retry: bool = True) -> int:
    """Store the record off the event loop, then wake the pipeline.

    When Slack has already had its answer it will not resend: a database hiccup is then
    retried here for a while (``STORE_RETRY_DELAYS``) before giving up with
    ``StoreUnavailable``. Before the answer (``retry=False``) the first failure is raised
    at once, so Slack can be asked to send the event again.
    """
    from intake.pipeline import accept

    for delay in (*(STORE_RETRY_DELAYS if retry else ()), None):
        try:
            message_id = await asyncio.to_thread(accept, svc.store, record)
            break
        except StoreUnavailable:
            if delay is None:
                log.error("slack input %s could not be stored; giving up", record.external_id)
                raise
            log.warning("slack input %s not stored yet; retrying in %ss", record.external_id,
                        delay)
            await asyncio.sleep(delay)
    svc.on_accept(message_id)
    log.info("slack intake stored as message %s", message_id)
    return message_id


def record_edit(store: Store, settings: Settings, event: dict[str, Any],
                event_id: str | None) -> str | None:
    """Audit an edit or deletion of a message we took in, and note it in the case thread.

    The stored raw message stays as it was received; the audit entry and the note say
    that it changed (without its text), so staff look at it in Slack.
    """
    channel = event.get("channel")
    original = event.get("message") or event.get("previous_message") or {}
    ts = event.get("deleted_ts") or original.get("ts")
    deleted = event.get("subtype") == "message_deleted"
    with store.session() as session:
        taken_in = _candidates(session, channel, ts)
        if not taken_in:
            return None
        case = next((session.get(Case, m.case_id) for m in taken_in if m.case_id), None)
        reference = case.reference if case else None
        session.add(AuditEntry(
            actor=f"slack:{original.get('user') or 'unknown'}", case_reference=reference,
            action="slack_message_deleted" if deleted else "slack_message_edited",
            detail={"channel": channel, "ts": ts, "event_id": event_id,
                    "messages": [m.id for m in taken_in]}))
        if case is not None:
            from bot.notify import enqueue_thread_note

            what = "deleted" if deleted else "edited"
            enqueue_thread_note(session, case, f"The Slack message case {reference} came "
                                f"from was {what} after it was logged; the case keeps the "
                                "text as first received.", purpose="thread", settings=settings)
        return reference


def taken_in_as(store: Store, channel: str | None, ts: str | None) -> str | None:
    """The external id under which this Slack message was already stored, if it was.

    A message from the intake channel is stored under its ``event_id``; logging it again
    with *Log as complaint* reuses that id, so the pipeline records a duplicate that
    points to the first case instead of opening a second one.
    """
    with store.session() as session:
        found = _candidates(session, channel, ts)
        return found[0].external_id if found else None


def _candidates(session: Any, channel: str | None, ts: str | None) -> list[Message]:
    """Slack messages stored for this channel and ts (by shortcut id or event time)."""
    when = _ts_datetime(ts)
    if not channel or when is None:
        return []
    found = {m.id: m for m in session.scalars(select(Message).where(
        Message.channel == "slack", Message.external_id == f"{channel}:{ts}"))}
    window = select(Message).where(
        Message.channel == "slack",
        Message.received_at.between(when - timedelta(minutes=1), when + timedelta(hours=1)))
    for msg in session.scalars(window.limit(500)):
        try:
            body = json.loads(msg.raw)
        except (ValueError, TypeError):
            continue
        inner = body.get("event") or body.get("message") or {}
        if inner.get("ts") == ts and _channel_id(body, inner) == channel:
            found[msg.id] = msg
    return [found[k] for k in sorted(found)]


# --- listeners -------------------------------------------------------------------------

EARLY_STORE_KEY = "intake_store_task"
EARLY_STORE_BUDGET = 1.0  # seconds of Slack's 3 spent trying to store before the ack


def event_record(body: dict[str, Any], event: dict[str, Any]) -> IntakeRecord:
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    payload = {k: body.get(k) for k in ("event_id", "team_id", "event_time", "event")}
    return slack_record(event_id, payload, event.get("user", ""))


async def store_before_ack(body: dict[str, Any], context: AsyncBoltContext,
                           next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
    """Store an intake message before Slack gets its answer, as the SMTP edge does.

    Within the budget the event is stored and only then acknowledged. When the database
    refuses it, Slack gets a 503 and sends the event again later (same event_id, so never
    twice). When storing is merely slow, the ack goes out and the listener waits for the
    store that is already under way.
    """
    event = body.get("event") or {}
    svc = services(context)
    if body.get("type") != "event_callback" or event.get("type") != "message" \
            or event.get("subtype") in EDIT_SUBTYPES \
            or not is_intake_message(event, svc.settings.slack_intake_channel):
        return await next()
    task = asyncio.ensure_future(store_record(svc, event_record(body, event), retry=False))
    try:
        await asyncio.wait_for(asyncio.shield(task), EARLY_STORE_BUDGET)
    except StoreUnavailable:
        log.warning("slack event not stored; asking Slack to send it again")
        return BoltResponse(status=503, body="")
    except TimeoutError:
        pass
    context[EARLY_STORE_KEY] = task
    return await next()


async def on_message(body: dict[str, Any], event: dict[str, Any],
                     context: AsyncBoltContext) -> None:
    """Events are acknowledged by Bolt before this runs; store, then wake the pipeline."""
    svc = services(context)
    async with svc.in_flight.track():
        if event.get("subtype") in EDIT_SUBTYPES:
            if event.get("channel") == svc.settings.slack_intake_channel or \
                    event.get("channel_type") == "im":
                ref = await asyncio.to_thread(record_edit, svc.store, svc.settings, event,
                                              body.get("event_id"))
                log.info("slack edit/deletion recorded (case %s)", ref)
            return
        if not is_intake_message(event, svc.settings.slack_intake_channel):
            return
        early = context.get(EARLY_STORE_KEY)
        if early is not None:  # the middleware began storing it before the ack
            await early
            return
        await store_record(svc, event_record(body, event))


async def on_log_as_complaint(ack: AsyncAck, body: dict[str, Any],
                              context: AsyncBoltContext) -> None:
    """Message shortcut: staff take any message in as a complaint."""
    await ack()
    svc = services(context)
    user = (body.get("user") or {}).get("id", "")
    channel = (body.get("channel") or {}).get("id")
    async with svc.in_flight.track():
        if not await svc.staff.is_staff(user):
            await refuse(svc.client, svc.store, user_id=user, channel=channel,
                         action="log_as_complaint")
            return
        message = body.get("message") or {}
        view_id = await _open_progress(svc, body.get("trigger_id"))
        payload = {"type": "message_action", "team": body.get("team"),
                   "channel": body.get("channel"), "user": body.get("user"),
                   "message": message}
        external_id = await asyncio.to_thread(taken_in_as, svc.store, channel,
                                              message.get("ts"))
        record = slack_record(external_id or f"{channel}:{message.get('ts')}", payload, user)
        try:
            message_id = await store_record(svc, record)
        except StoreUnavailable:
            if view_id:
                await _update_view(svc, view_id, _note_view(NOT_STORED))
            return
        if view_id:
            await _show_outcome(svc, view_id, message_id)


async def _open_progress(svc: BotServices, trigger_id: str | None) -> str | None:
    """Open a small modal at once (a trigger lasts 3 seconds) to show the outcome later."""
    if not trigger_id:
        return None
    try:
        resp = await svc.client.views_open(trigger_id=trigger_id, view=_progress_view())
        return resp["view"]["id"]
    except SLACK_CALL_FAILED as exc:
        log.warning("could not open the intake modal: %s", type(exc).__name__)
        return None


async def _show_outcome(svc: BotServices, view_id: str, message_id: int) -> None:
    from bot.outcome import outcome_view, wait_for_outcome

    outcome = await wait_for_outcome(svc.store, message_id)
    await _update_view(svc, view_id, outcome_view(outcome))


async def _update_view(svc: BotServices, view_id: str, view: dict[str, Any]) -> None:
    try:
        await svc.client.views_update(view_id=view_id, view=view)
    except SLACK_CALL_FAILED as exc:
        log.warning("could not update the intake modal: %s", type(exc).__name__)


NOT_STORED = ("The message could not be logged: the case store is not available. Nothing "
              "was recorded; please try *Log as complaint* again in a few minutes.")


def _note_view(text: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "intake_outcome",
            "title": {"type": "plain_text", "text": "Log as complaint"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _progress_view() -> dict[str, Any]:
    return _note_view("Logging the message as a complaint…")


def register(app: AsyncApp) -> None:
    app.middleware(store_before_ack)
    app.event("message")(on_message)
    app.shortcut(SHORTCUT_CALLBACK)(on_log_as_complaint)
