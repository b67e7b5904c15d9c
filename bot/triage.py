"""Block Kit for a case's triage post: what staff need to decide, and the buttons to do it.

The post carries structured fields only: reference, channel, provider, URN, dates, the
complainant's role, labels with their confidence, each deadline with the rule behind it,
out-of-time, what information is missing, and proposed links. Never the complaint's text
and never a name (PRODUCT.md, Personal data; children's names never go to Slack, ``004_…``
para 80): staff open the text on demand with "Show text", which is audited.

The same blocks are posted for a new case and sent again with ``chat.update`` after every
change, so the post always shows the case as it is. The listeners for the buttons are in
:mod:`bot.actions`; the action ids are defined here, next to the buttons that carry them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from intake.cases.facts import (
    MAIN_DEADLINES,
    case_text,
    classification_of,
    contact_of,
    current_labels,
)
from intake.cases.models import Case, CaseLink, Deadline, Label
from intake.letters import format_date, format_datetime, missing_information
from intake.settings import get_settings

# Action ids (bot.actions registers a listener for each).
CONFIRM = "case_confirm_labels"
EDIT = "case_edit_labels"
ASSIGN = "case_assign"
SHOW_TEXT = "case_show_text"
LINK = "case_link"
LINK_PROPOSED = "case_link_proposed"  # suffixed with ":<n>" (action ids must be unique)
PREVIEW_LETTER = "case_preview_letter"  # suffixed with ":<letter id>"
OUT_OF_SCOPE = "case_out_of_scope"
CLOSE = "case_close"

MAX_TEXT = 2900  # Slack's section text limit is 3000 characters
MAX_LINKS = 5
ROLES = {"provider": "provider", "parent_carer": "parent or carer",
         "local_authority": "local authority", "other": "other"}
MISSING_WORDS = {"account": "a concise account of the concerns",
                 "actions_taken": "actions already taken",
                 "desired_outcome": "the outcome wanted",
                 "contact_details": "a telephone number",
                 "availability": "availability for a call"}


def _section(text: str) -> dict[str, Any]:
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def _day(value: date | str | None) -> str:
    if value is None or value == "":
        return "not given"
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(day)


# --- pieces --------------------------------------------------------------------------


def header_text(case: Case) -> str:
    status = case.status if case.status != "closed" else f"closed: {case.outcome or ''}"
    who = f" · assigned to <@{case.assignee}>" if case.assignee else " · unassigned"
    line = (f"*{case.reference}* · {case.channel} · received "
            f"{format_datetime(case.received_at)} · {status}{who}")
    if case.safeguarding:
        line = (":rotating_light: *Safeguarding: a child may be at risk now.* The duty team "
                "has been alerted.\n" + line)
    return line


def fields_block(case: Case) -> dict[str, Any]:
    role = ROLES.get(contact_of(case).role or "", "not given")
    dates = ", ".join(_day(d) for d in case.inspection_dates or []) or "not given"
    fields = [("Provider", case.provider or "not given"), ("URN", case.urn or "not given"),
              ("Inspection dates", dates), ("Report published", _day(case.report_published)),
              ("Draft received", _day(case.draft_received)), ("Complainant", role)]
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:1900]}
                                          for k, v in fields]}


def _label_line(labels: list[Label], threshold: float) -> str:
    parts = []
    for label in labels:
        if label.source.startswith("staff:"):
            parts.append(f"{label.value} (staff <@{label.source.removeprefix('staff:')}>)")
        elif label.confidence is None:
            parts.append(label.value)
        else:
            mark = " :warning:" if label.confidence < threshold else ""
            parts.append(f"{label.value} ({label.confidence:.2f}){mark}")
    return ", ".join(parts) or "none"


def labels_text(case: Case) -> str:
    threshold = get_settings().review_threshold
    labels = current_labels(case)
    lines = ["*Labels*" + (" · _needs review_" if case.needs_review else "")]
    for name, title in (("intent", "Intent"), ("aspect", "Aspects"),
                        ("inspectorate", "Inspectorates"), ("regime", "Regime"),
                        ("safeguarding", "Safeguarding")):
        lines.append(f"{title}: " + _label_line([lb for lb in labels if lb.name == name],
                                                threshold))
    return "\n".join(lines)


def _deadline_rows(case: Case) -> list[Deadline]:
    rows = [d for d in case.deadlines if d.superseded_at is None]
    order = {kind: i for i, kind in enumerate(MAIN_DEADLINES)}
    return sorted(rows, key=lambda d: (order.get(d.kind, len(order)), d.due_date or date.max))


def deadlines_text(case: Case) -> str:
    lines = ["*Deadlines* (rule and source)"]
    for d in _deadline_rows(case):
        when = format_datetime(d.due_at) if d.due_at else _day(d.due_date)
        source = f", {d.source}" if d.source else ""
        lines.append(f"{d.kind.replace('_', ' ').capitalize()}: {when} · `{d.rule}`{source}")
    if len(lines) == 1:
        lines.append("none (signposted, or no response date under this rule)")
    out = (case.deadline_summary or {}).get("out_of_time")
    if out is True:
        lines.append(":hourglass: *Out of time*: received after the time limit; staff "
                     "decide whether to consider it.")
    elif out is None and case.intent in ("complaint", "withhold_publication"):
        lines.append("Time limit: publication date not known.")
    return "\n".join(lines)


def missing_text(case: Case) -> str | None:
    c = classification_of(case)
    missing = missing_information(c, contact_of(case), case_text(case))
    if not missing:
        return None
    return "*Missing information* (asked for in the letter): " + ", ".join(
        MISSING_WORDS.get(m, m.replace("_", " ")) for m in missing)


def _links(case: Case) -> list[tuple[CaseLink, Case]]:
    session = object_session(case)
    if session is None or case.id is None:
        return []
    rows = session.scalars(select(CaseLink).where(or_(CaseLink.case_id == case.id,
                                                      CaseLink.other_case_id == case.id))
                           .order_by(CaseLink.id)).all()
    found = []
    for row in rows:
        other = session.get(Case, row.other_case_id if row.case_id == case.id
                            else row.case_id)
        if other is not None:
            found.append((row, other))
    return found


def links_blocks(case: Case) -> list[dict[str, Any]]:
    links = _links(case)
    if not links:
        return []
    lines, buttons = ["*Related cases*"], []
    for row, other in links[:MAX_LINKS]:
        lines.append(f"{other.reference}: {row.kind} ({row.reason or 'no reason given'})")
        if row.kind == "proposed" and case.status != "closed":
            n = len(buttons) // 2
            value = f"{case.reference}|{other.reference}"
            buttons.append(_button(f"Link {other.reference}", f"{LINK_PROPOSED}:link:{n}",
                                   value))
            buttons.append(_button(f"Merge into {other.reference}",
                                   f"{LINK_PROPOSED}:merge:{n}", value))
    blocks = [_section("\n".join(lines))]
    if buttons:
        blocks.append({"type": "actions", "block_id": f"links:{case.reference}",
                       "elements": buttons[:25]})
    return blocks


def letters_blocks(case: Case) -> list[dict[str, Any]]:
    if not case.letters:
        return []
    lines, buttons = ["*Letters*"], []
    for letter in case.letters:
        kind = letter.kind.replace("_", " ")
        line = f"{kind}: {letter.status} ({letter.delivery})"
        if letter.status == "held":
            line += f" · held: {letter.hold_reason or 'for approval'}"
            buttons.append(_button(f"Preview and approve {kind}",
                                   f"{PREVIEW_LETTER}:{letter.id}",
                                   f"{case.reference}|{letter.id}", "primary"))
        lines.append(line)
    blocks = [_section("\n".join(lines))]
    if buttons and case.status != "closed":
        blocks.append({"type": "actions", "block_id": f"letters:{case.reference}",
                       "elements": buttons[:25]})
    return blocks


def actions_block(case: Case) -> dict[str, Any]:
    ref = case.reference
    elements: list[dict[str, Any]] = [_button("Show text", SHOW_TEXT, ref)]
    if case.status != "closed":
        assign: dict[str, Any] = {"type": "users_select", "action_id": ASSIGN,
                                  "placeholder": {"type": "plain_text", "text": "Assign"}}
        if case.assignee:
            assign["initial_user"] = case.assignee
        elements = [_button("Confirm labels", CONFIRM, ref, "primary"),
                    _button("Edit labels", EDIT, ref), assign, *elements,
                    _button("Link or merge", LINK, ref),
                    _button("Out of scope", OUT_OF_SCOPE, ref),
                    _button("Close", CLOSE, ref, "danger")]
    return {"type": "actions", "block_id": f"case:{ref}", "elements": elements}


def case_blocks(case: Case, *, with_actions: bool = True) -> list[dict[str, Any]]:
    """The triage post for ``case`` (structured fields only; see the module docstring)."""
    blocks: list[dict[str, Any]] = [_section(header_text(case)), fields_block(case),
                                    _section(labels_text(case)),
                                    _section(deadlines_text(case))]
    missing = missing_text(case)
    if missing:
        blocks.append(_section(missing))
    blocks += links_blocks(case)
    blocks += letters_blocks(case)
    if with_actions:
        blocks.append(actions_block(case))
    else:
        blocks = [b for b in blocks if b["type"] != "actions"]
    return blocks


def register(app: AsyncApp) -> None:
    """Nothing to listen for here: the buttons' listeners are in :mod:`bot.actions`."""
