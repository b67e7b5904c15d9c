"""Listeners for the buttons, menus and modals on a case's triage post, and alert acks.

Every listener acknowledges Slack first (Slack wants an answer within 3 seconds), then
checks that the person is triage staff (others get an ephemeral refusal, and the attempt
is audited: issue 5 item 8), then calls the plain function in
:mod:`intake.cases.actions` off the event loop. Those functions write the audit trail and
queue the update of the triage post, so the post changes in place. Modal submissions are
validated before they are acknowledged, so a bad value is shown next to its field.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot import case_modals as modals
from bot import triage
from bot.access import refuse
from bot.app import BotServices, services
from intake.cases import actions
from intake.cases.actions import ActionError, LabelChange, find_case, staff_actor
from intake.cases.models import Alert, Case

log = logging.getLogger(__name__)

T = TypeVar("T")
ACK_ALERT = "ack_alert"  # the button bot.notify.enqueue_alert puts on alert posts
NOT_SAVED = "That change could not be saved just now (the case store did not answer). " \
    "Nothing was changed; please try again."


# --- plumbing -------------------------------------------------------------------------


def _user(body: dict[str, Any]) -> str:
    return (body.get("user") or {}).get("id", "")


def _channel(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id")


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("actions") or [{}])[0]


async def _allowed(svc: BotServices, user: str, channel: str | None, what: str,
                   reference: str | None) -> bool:
    if await svc.staff.is_staff(user):
        return True
    await refuse(svc.client, svc.store, user_id=user, channel=channel, action=what,
                 case_reference=reference)
    return False


class CaseGone(ActionError):
    """The case a button or modal is about does not exist."""


def _find(session: Session, reference: str) -> Case:
    """The case, row-locked where the database can (PostgreSQL), for the change to come."""
    try:
        found = find_case(session, reference)
    except ActionError as exc:
        raise CaseGone(exc.message) from None
    if session.get_bind().dialect.name == "postgresql":
        session.refresh(found, with_for_update=True)
    return found


async def _in_case(svc: BotServices, reference: str, fn: Callable[[Session, Case], T]) -> T:
    """Run ``fn(session, case)`` in one transaction, off the event loop, one per case."""
    def work() -> T:
        with svc.store.session() as session:
            return fn(session, _find(session, reference))

    async with svc.case_locks.hold((reference or "").strip().upper()):
        return await asyncio.to_thread(work)


async def _tell(svc: BotServices, user: str, channel: str | None, text: str) -> None:
    """An ephemeral note to one person (errors and confirmations)."""
    if not channel:
        return
    try:
        await svc.client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (TimeoutError, SlackApiError, OSError) as exc:
        log.warning("could not send an ephemeral note: %s", type(exc).__name__)


async def _open(svc: BotServices, trigger_id: str | None, view: dict[str, Any]) -> None:
    try:
        await svc.client.views_open(trigger_id=trigger_id, view=view)
    except (TimeoutError, SlackApiError, OSError) as exc:
        log.warning("could not open a modal: %s", type(exc).__name__)


async def _button_then(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext,
                       what: str, fn: Callable[[BotServices, str, str | None, str],
                                               Any]) -> None:
    """Ack, check staff, then run ``fn(svc, user, channel, reference)``; report errors."""
    await ack()
    svc = services(context)
    user, channel = _user(body), _channel(body)
    reference = str(_action(body).get("value") or "").split("|")[0]
    async with svc.in_flight.track():
        if not await _allowed(svc, user, channel, what, reference or None):
            return
        try:
            await fn(svc, user, channel, reference)
        except ActionError as exc:
            await _tell(svc, user, channel, exc.message)
        except SQLAlchemyError as exc:
            log.error("%s on %s failed: %s", what, reference, type(exc).__name__)
            await _tell(svc, user, channel, NOT_SAVED)


# --- buttons on the post ---------------------------------------------------------------


async def on_confirm(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    async def run(svc: BotServices, user: str, channel: str | None, ref: str) -> None:
        confirmed = await _in_case(svc, ref, lambda s, c: actions.confirm_labels(
            s, c, staff_actor(user), svc.settings))
        if not confirmed:
            await _tell(svc, user, channel, f"The labels of {ref} are already confirmed.")
    await _button_then(ack, body, context, "confirm_labels", run)


async def on_assign(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    svc = services(context)
    user, channel = _user(body), _channel(body)
    block = str(_action(body).get("block_id") or "")
    reference = block.removeprefix("case:")
    assignee = _action(body).get("selected_user")
    async with svc.in_flight.track():
        if not await _allowed(svc, user, channel, "assign", reference):
            return
        try:
            await _in_case(svc, reference, lambda s, c: actions.assign(
                s, c, staff_actor(user), assignee, svc.settings))
        except ActionError as exc:
            await _tell(svc, user, channel, exc.message)


async def on_show_text(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    async def run(svc: BotServices, user: str, channel: str | None, ref: str) -> None:
        text = await _in_case(svc, ref, lambda s, c: actions.show_text(s, c,
                                                                       staff_actor(user)))
        await _open(svc, body.get("trigger_id"), modals.text_view(ref, text))
    await _button_then(ack, body, context, "show_text", run)


def _opener(what: str, build: Callable[[Case, str | None], dict[str, Any]]) -> Callable[
        ..., Any]:
    """A listener that opens a modal built from an open case."""
    def checked_build(case: Case, channel: str | None) -> dict[str, Any]:
        if case.status == actions.CLOSED:
            raise ActionError(f"Case {case.reference} is closed.")
        return build(case, channel)

    async def listener(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        async def run(svc: BotServices, user: str, channel: str | None, ref: str) -> None:
            view = await _in_case(svc, ref, lambda s, c: checked_build(c, channel))
            await _open(svc, body.get("trigger_id"), view)
        await _button_then(ack, body, context, what, run)
    return listener


async def on_link_proposed(ack: AsyncAck, body: dict[str, Any],
                           context: AsyncBoltContext) -> None:
    """"Link X" / "Merge into X" on a proposed link (``000_…`` para 27)."""
    mode = str(_action(body).get("action_id", "")).split(":")[1]
    other = str(_action(body).get("value") or "").partition("|")[2]

    async def run(svc: BotServices, user: str, channel: str | None, ref: str) -> None:
        fn = actions.merge if mode == "merge" else actions.link
        await _in_case(svc, ref, lambda s, c: fn(s, c, other, staff_actor(user),
                                                 svc.settings))
    await _button_then(ack, body, context, f"{mode}_cases", run)


async def on_preview_letter(ack: AsyncAck, body: dict[str, Any],
                            context: AsyncBoltContext) -> None:
    value = str(_action(body).get("value") or "").partition("|")[2]
    letter_id = int(value) if value.isdigit() else 0

    async def run(svc: BotServices, user: str, channel: str | None, ref: str) -> None:
        view = await _in_case(svc, ref, lambda s, c: modals.letter_preview_view(
            c, actions.held_letter(c, letter_id), channel))
        await _open(svc, body.get("trigger_id"), view)
    await _button_then(ack, body, context, "preview_letter", run)


# --- modal submissions ----------------------------------------------------------------


def _errors(exc: ActionError, default: str) -> dict[str, str]:
    return {modals.FIELD_BLOCKS.get(exc.field or "", default): exc.message}


async def _submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext,
                     what: str, default_block: str | None,
                     fn: Callable[[Session, Case, str, dict[str, Any]], Any]) -> None:
    """Staff check, run ``fn`` in a transaction, then ack (with errors when it refused)."""
    svc = services(context)
    view = body.get("view") or {}
    meta = modals.read_metadata(view)
    user, channel, ref = _user(body), meta.get("channel"), str(meta.get("ref") or "")
    values = (view.get("state") or {}).get("values") or {}
    async with svc.in_flight.track():
        if not await svc.staff.is_staff(user):
            await ack()
            await refuse(svc.client, svc.store, user_id=user, channel=channel, action=what,
                         case_reference=ref or None)
            return
        try:
            await _in_case(svc, ref, lambda s, c: fn(s, c, staff_actor(user), values))
        except CaseGone as exc:
            # The modal's own case is not there (stale or tampered metadata): no input of
            # the modal can hold that error, so the modal says it instead.
            await ack(response_action="update", view=modals.notice_view(exc.message))
            return
        except ActionError as exc:
            if default_block is None:
                await ack()
                await _tell(svc, user, channel, exc.message)
            else:
                await ack(response_action="errors", errors=_errors(exc, default_block))
            return
        except SQLAlchemyError as exc:
            log.error("%s on %s failed: %s", what, ref, type(exc).__name__)
            await ack()
            await _tell(svc, user, channel, NOT_SAVED)
            return
        await ack()


async def on_edit_submitted(ack: AsyncAck, body: dict[str, Any],
                            context: AsyncBoltContext) -> None:
    settings = services(context).settings
    await _submitted(ack, body, context, "edit_labels", "intent",
                     lambda s, c, actor, v: actions.relabel(
                         s, c, actor, LabelChange(**modals.read_labels(v)), settings))


async def on_link_submitted(ack: AsyncAck, body: dict[str, Any],
                            context: AsyncBoltContext) -> None:
    settings = services(context).settings

    def run(s: Session, c: Case, actor: str, v: dict[str, Any]) -> None:
        other = modals.input_value(v, "reference")
        if modals.read_mode(v) == "merge":
            actions.merge(s, c, other, actor, settings)
        else:
            actions.link(s, c, other, actor, settings)
    await _submitted(ack, body, context, "link_cases", "reference", run)


async def on_out_of_scope_submitted(ack: AsyncAck, body: dict[str, Any],
                                    context: AsyncBoltContext) -> None:
    settings = services(context).settings
    await _submitted(ack, body, context, "out_of_scope", "reason",
                     lambda s, c, actor, v: actions.mark_out_of_scope(
                         s, c, actor, modals.input_value(v, "reason"), settings))


async def on_close_submitted(ack: AsyncAck, body: dict[str, Any],
                             context: AsyncBoltContext) -> None:
    settings = services(context).settings

    def run(s: Session, c: Case, actor: str, v: dict[str, Any]) -> None:
        outcome, note = modals.input_value(v, "outcome"), modals.input_value(v, "note")
        text = f"{outcome}: {note}" if outcome and note else outcome
        actions.close_case(s, c, actor, text, settings)
    await _submitted(ack, body, context, "close_case", "outcome", run)


async def on_approve_submitted(ack: AsyncAck, body: dict[str, Any],
                               context: AsyncBoltContext) -> None:
    settings = services(context).settings
    letter = str(modals.read_metadata(body.get("view") or {}).get("letter") or "")
    letter_id = int(letter) if letter.isdigit() else 0
    await _submitted(ack, body, context, "approve_letter", None,
                     lambda s, c, actor, v: actions.approve_letter(s, c, letter_id, actor,
                                                                   settings))


# --- urgent alerts --------------------------------------------------------------------


def _alert_reference(svc: BotServices, alert_id: int) -> str | None:
    with svc.store.session() as session:
        alert = session.get(Alert, alert_id)
        case = session.get(Case, alert.case_id) if alert else None
        return case.reference if case else None


def _ack_alert(svc: BotServices, alert_id: int, user: str,
               ts: str | None) -> tuple[bool, str] | None:
    from intake.alert_ack import acknowledge_alert, acknowledged_text

    with svc.store.session() as session:
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            return None
        case = session.get(Case, alert.case_id)
        done = acknowledge_alert(session, alert, staff_actor(user), "slack", svc.settings,
                                 updated_ts=ts)
        return done, acknowledged_text(case, alert) if case else "Alert acknowledged."


async def on_ack_alert(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """A person takes the alert: it stops being re-sent and escalated (issue 7 item 2)."""
    await ack()
    svc = services(context)
    user, channel = _user(body), _channel(body)
    value = str(_action(body).get("value") or "")
    if not value.isdigit():
        return
    async with svc.in_flight.track():
        reference = await asyncio.to_thread(_alert_reference, svc, int(value))
        if not await _allowed(svc, user, channel, "ack_alert", reference):
            return
        ts = (body.get("container") or {}).get("message_ts")
        result = await asyncio.to_thread(_ack_alert, svc, int(value), user, ts)
        if result is None:
            await _tell(svc, user, channel, "That alert no longer exists.")
            return
        done, text = result
        if not done:
            await _tell(svc, user, channel, text)
            return
        if channel and ts:
            try:
                await svc.client.chat_update(channel=channel, ts=ts, text=text, blocks=[
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}}])
            except (TimeoutError, SlackApiError, OSError) as exc:
                log.warning("could not update the alert post: %s", type(exc).__name__)


def register(app: AsyncApp) -> None:
    app.action(triage.CONFIRM)(on_confirm)
    app.action(triage.EDIT)(_opener("edit_labels", modals.edit_labels_view))
    app.action(triage.ASSIGN)(on_assign)
    app.action(triage.SHOW_TEXT)(on_show_text)
    app.action(triage.LINK)(_opener("link_cases", modals.link_view))
    app.action(triage.OUT_OF_SCOPE)(_opener("out_of_scope", modals.out_of_scope_view))
    app.action(triage.CLOSE)(_opener("close_case", modals.close_view))
    app.action(re.compile(f"^{triage.LINK_PROPOSED}:(link|merge):"))(on_link_proposed)
    app.action(re.compile(f"^{triage.PREVIEW_LETTER}:"))(on_preview_letter)
    app.action(ACK_ALERT)(on_ack_alert)
    app.view(modals.EDIT_CALLBACK)(on_edit_submitted)
    app.view(modals.LINK_CALLBACK)(on_link_submitted)
    app.view(modals.OUT_OF_SCOPE_CALLBACK)(on_out_of_scope_submitted)
    app.view(modals.CLOSE_CALLBACK)(on_close_submitted)
    app.view(modals.APPROVE_CALLBACK)(on_approve_submitted)
