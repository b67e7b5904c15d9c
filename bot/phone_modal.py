"""The "Log phone complaint" modal for transcription operators (``000_…`` para 15).

Opened by the slash command ``/phone-complaint`` or the global shortcut. Its fields are the
ones of ``intake-bot phone --json`` (``intake.channels.phone.PHONE_FIELDS``); the operator
is the Slack user who submits, and the call time defaults to now. Errors come back inline
on their field (``response_action: errors``). A valid form is acknowledged with a
"logging" view at once; the record is then stored, the pipeline woken, and the view is
updated with the case reference, labels and where the letter goes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.app import BotServices, services
from bot.errors import SLACK_CALL_FAILED
from bot.intake import store_record
from bot.outcome import outcome_view, wait_for_outcome
from intake.channels.phone import ROLES, phone_record, validate_phone_fields
from intake.pipeline import StoreUnavailable

log = logging.getLogger(__name__)

COMMAND = "/phone-complaint"
SHORTCUT_CALLBACK = "log_phone_complaint"
VIEW_CALLBACK = "phone_complaint"
ACTION = "value"  # every input's action_id; the block_id is the field name

NOT_STORED = (":warning: The complaint could not be stored just now (the case store is not "
              "available). Your answers are below: press *Log complaint* again in a minute.")

ROLE_LABELS = {"provider": "Provider (school, nursery, setting)", "parent_carer":
               "Parent or carer", "local_authority": "Local authority", "other": "Other"}


def _text_input(field: str, label: str, *, multiline: bool = False, optional: bool = True,
                hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input", "block_id": field, "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": ACTION, "multiline": multiline},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _input(field: str, label: str, element: dict[str, Any], *,
           optional: bool = True) -> dict[str, Any]:
    return {"type": "input", "block_id": field, "optional": optional,
            "label": {"type": "plain_text", "text": label},
            "element": {"action_id": ACTION, **element}}


def phone_view(now: datetime) -> dict[str, Any]:
    """The modal; every field of the phone form except the operator (taken from Slack)."""
    role_options = [{"text": {"type": "plain_text", "text": ROLE_LABELS.get(r, r)},
                     "value": r} for r in ROLES]
    consent = {"text": {"type": "plain_text", "text": "The caller agrees to letters by email"},
               "value": "yes"}
    blocks = [
        _text_input("caller_name", "Caller's name", optional=False),
        _text_input("phone", "Phone number"),
        _input("email", "Email address", {"type": "email_text_input"}),
        _input("email_consent", "Email consent", {"type": "checkboxes",
                                                  "options": [consent]}),
        _input("large_print", "Letter format", {"type": "checkboxes", "options": [
            {"text": {"type": "plain_text", "text": "The caller asked for large print"},
             "value": "yes"}]}),
        _text_input("address", "Postal address", multiline=True,
                    hint="Needed when the letter cannot go by email."),
        _input("role", "Caller is", {"type": "static_select", "options": role_options}),
        _text_input("provider", "Provider or local authority complained about"),
        _text_input("urn", "URN", hint="6 or 7 digits, or EY/SC and 6 digits"),
        _text_input("inspection_dates", "Inspection dates"),
        _input("report_published", "Report published", {"type": "datepicker"}),
        _text_input("what_happened", "What happened", multiline=True, optional=False),
        _text_input("desired_outcome", "What the caller wants to happen", multiline=True),
        _text_input("actions_taken", "What the caller has done so far", multiline=True),
        _text_input("availability", "When the caller can be reached"),
        _input("call_time", "Call time", {"type": "datetimepicker",
                                         "initial_date_time": int(now.timestamp())},
               optional=False),
    ]
    return {"type": "modal", "callback_id": VIEW_CALLBACK,
            "title": {"type": "plain_text", "text": "Log phone complaint"},
            "submit": {"type": "plain_text", "text": "Log complaint"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def refilled_view(fields: dict[str, object], notice: str) -> dict[str, Any]:
    """The form again with the operator's answers in it and a notice on top, so nothing
    typed during a call is lost when it could not be stored."""
    view = phone_view(datetime.now(UTC))
    for block in view["blocks"]:
        value = fields.get(block["block_id"])
        if value not in (None, "", False):
            _prefill(block["element"], value)
    view["blocks"].insert(0, {"type": "section", "block_id": "notice",
                              "text": {"type": "mrkdwn", "text": notice}})
    return view


def _prefill(element: dict[str, Any], value: object) -> None:
    kind = element["type"]
    if kind == "checkboxes":
        element["initial_options"] = element["options"][:1]
    elif kind == "static_select":
        element["initial_option"] = next(
            (o for o in element["options"] if o["value"] == value), element["options"][-1])
    elif kind == "datepicker":
        element["initial_date"] = str(value)
    elif kind == "datetimepicker":
        element["initial_date_time"] = int(datetime.fromisoformat(str(value)).timestamp())
    else:
        element["initial_value"] = str(value)


class MalformedValue(ValueError):
    """A submitted value that no Slack input element produces: shown on its field."""


UNREADABLE = "This answer could not be read; enter it again"
LATEST_STAMP = 253402300799  # 9999-12-31 23:59:59 UTC, the last second Python can hold


def _text_value(element: dict[str, Any], key: str) -> str | None:
    value = element.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedValue(UNREADABLE)
    return value


def _select_value(element: dict[str, Any]) -> str | None:
    option = element.get("selected_option")
    if option is None:
        return None
    if not isinstance(option, dict):
        raise MalformedValue("Choose one of the options")
    return _text_value(option, "value")


def _checked(element: dict[str, Any]) -> bool:
    options = element.get("selected_options")
    if options is not None and not isinstance(options, list):
        raise MalformedValue("Tick the box or leave it empty")
    return bool(options)


def _date_time_value(element: dict[str, Any]) -> str | None:
    """A ``datetimepicker`` Unix time as ISO 8601.

    Slack sends whole seconds since 1970; anything else (text, a time before 1970 or past
    the year 9999) is refused rather than turned into a call time nobody chose.
    """
    stamp = element.get("selected_date_time")
    if stamp is None or stamp == 0:
        return None
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) \
            or not 0 < stamp <= LATEST_STAMP:
        raise MalformedValue("Choose the date and time of the call")
    return datetime.fromtimestamp(stamp, UTC).isoformat()


def _element_value(element: object) -> object:
    """The submitted value of one input, as the phone form expects it.

    Raises :class:`MalformedValue` for a shape or range Slack's elements never send, so a
    tampered or corrupted submission is answered on its field instead of failing.
    """
    if not isinstance(element, dict):
        raise MalformedValue(UNREADABLE)
    kind = element.get("type")
    if kind == "checkboxes":
        return _checked(element)
    if kind == "static_select":
        return _select_value(element)
    if kind == "datepicker":
        return _text_value(element, "selected_date")
    if kind == "datetimepicker":
        return _date_time_value(element)
    return _text_value(element, "value")


def _state_values(view: object) -> dict[str, Any]:
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def read_view(view: object) -> tuple[dict[str, object], dict[str, str]]:
    """The form's fields from a view submission's state (empty answers left out), and an
    error per block whose value is malformed."""
    fields: dict[str, object] = {}
    malformed: dict[str, str] = {}
    for block_id, actions in _state_values(view).items():
        try:
            if not isinstance(actions, dict):
                raise MalformedValue(UNREADABLE)
            if ACTION not in actions:
                continue
            value = _element_value(actions[ACTION])
        except MalformedValue as exc:
            malformed[block_id] = str(exc)
            continue
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            fields[block_id] = value
    fields.setdefault("email_consent", False)
    return fields, malformed


def _progress_view() -> dict[str, Any]:
    return {"type": "modal", "callback_id": "intake_outcome",
            "title": {"type": "plain_text", "text": "Log phone complaint"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {
                "type": "mrkdwn", "text": "Logging the complaint…"}}]}


async def open_modal(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Slash command or shortcut: open the form (the trigger lasts 3 seconds)."""
    await ack()
    svc = services(context)
    try:
        await svc.client.views_open(trigger_id=body["trigger_id"],
                                    view=phone_view(datetime.now(UTC)))
    except SLACK_CALL_FAILED as exc:
        log.warning("could not open the phone modal: %s", type(exc).__name__)


async def submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                 context: AsyncBoltContext) -> None:
    """Validate, acknowledge (inline errors or a progress view), then log the call."""
    now = datetime.now(UTC)
    fields, malformed = read_view(view)
    errors = validate_phone_fields(fields, now)
    errors = {k: v for k, v in errors.items() if k != "operator"} | malformed
    if errors:
        await ack(response_action="errors", errors=_errors_on_blocks(errors))
        return
    await ack(response_action="update", view=_progress_view())
    svc = services(context)
    operator = (body.get("user") or {}).get("id", "")
    async with svc.in_flight.track():
        await _log_call(svc, fields, operator, now, view.get("id"))


def _errors_on_blocks(errors: dict[str, str]) -> dict[str, str]:
    """Errors keyed by block; one for a field the modal lacks goes on what happened."""
    shown = {k: v for k, v in errors.items() if k in _BLOCK_IDS}
    for name, message in errors.items():
        if name not in _BLOCK_IDS:
            shown.setdefault("what_happened", f"{name}: {message}")
    return shown


async def _log_call(svc: BotServices, fields: dict[str, object], operator: str,
                    now: datetime, view_id: str | None) -> None:
    record = phone_record(fields, operator=f"slack:{operator}", now=now)
    try:
        message_id = await store_record(svc, record)
    except StoreUnavailable:
        if view_id:
            await _update(svc, view_id, refilled_view(fields, NOT_STORED))
        return
    if not view_id:
        return
    outcome = await wait_for_outcome(svc.store, message_id)
    await _update(svc, view_id, outcome_view(outcome, "Phone complaint"))


async def _update(svc: BotServices, view_id: str, view: dict[str, Any]) -> None:
    try:
        await svc.client.views_update(view_id=view_id, view=view)
    except SLACK_CALL_FAILED as exc:
        log.warning("could not update the phone modal: %s", type(exc).__name__)


_BLOCK_IDS = frozenset(b["block_id"] for b in phone_view(datetime.now(UTC))["blocks"])


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(open_modal)
    app.shortcut(SHORTCUT_CALLBACK)(open_modal)
    app.view(VIEW_CALLBACK)(submit)
