"""Modals opened from a case's triage post, and reading their submitted values.

Each modal carries the case reference (and the channel the button was pressed in, for
ephemeral replies) in ``private_metadata``, so the submission needs nothing else. Titles
stay under Slack's 24-character limit; inputs use block ids that validation errors name.
"""

from __future__ import annotations

import json
from typing import Any

from intake.cases.facts import current_labels
from intake.cases.models import Case, Letter
from nlp.labels import ASPECTS, INSPECTORATES, INTENTS, REGIMES

EDIT_CALLBACK = "case_edit_labels"
LINK_CALLBACK = "case_link"
APPROVE_CALLBACK = "case_approve_letter"
OUT_OF_SCOPE_CALLBACK = "case_out_of_scope"
CLOSE_CALLBACK = "case_close"
TEXT_CALLBACK = "case_text"

# Block ids of inputs, named by validation errors (ActionError.field -> block id).
FIELD_BLOCKS = {"intent": "intent", "regime": "regime", "aspects": "aspects",
                "inspectorates": "inspectorates", "reference": "reference",
                "reason": "reason", "outcome": "outcome"}

OUTCOMES = ("Upheld", "Partly upheld", "Not upheld", "Withdrawn by the complainant",
            "Resolved informally", "Referred elsewhere", "No further action")
CHUNK = 2900
MAX_TEXT_BLOCKS = 40


def metadata(**values: Any) -> str:
    return json.dumps(values, separators=(",", ":"))


def read_metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": _plain(text or value.replace("_", " ")), "value": value}


def _about(reference: str) -> dict[str, Any]:
    """Which case a modal is about (titles are too short to hold a reference)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Case *{reference}*"}]}


def _modal(callback: str, title: str, blocks: list[dict[str, Any]], meta: str,
           submit: str | None = "Save") -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": callback, "title": _plain(title[:24]),
                            "close": _plain("Cancel"), "blocks": blocks,
                            "private_metadata": meta}
    if submit:
        view["submit"] = _plain(submit)
    return view


def _select(block_id: str, label: str, values: tuple[str, ...], initial: str) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "label": _plain(label),
            "element": {"type": "static_select", "action_id": "value",
                        "options": [_option(v) for v in values],
                        "initial_option": _option(initial)}}


def _checkboxes(block_id: str, label: str, values: tuple[str, ...],
                chosen: list[str]) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "checkboxes", "action_id": "value",
                               "options": [_option(v) for v in values]}
    initial = [_option(v) for v in values if v in chosen]
    if initial:
        element["initial_options"] = initial
    return {"type": "input", "block_id": block_id, "label": _plain(label), "optional": True,
            "element": element}


def edit_labels_view(case: Case, channel: str | None) -> dict[str, Any]:
    """Intent, aspects, inspectorates, regime and safeguarding, set to the current labels."""
    labels = current_labels(case)
    confidence = ", ".join(f"{lb.name} {lb.value}: {lb.confidence:.2f}" for lb in labels
                           if lb.confidence is not None and not lb.source.startswith("staff:"))
    blocks = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
                                          f"Case *{case.reference}*. Model confidence: "
                                          f"{confidence or 'none recorded'}"[:2900]}]},
        _select("intent", "Intent", INTENTS, case.intent),
        _checkboxes("aspects", "Aspects", ASPECTS, case.aspects),
        _checkboxes("inspectorates", "Inspectorates", INSPECTORATES, case.inspectorates),
        _select("regime", "Regime", REGIMES, case.regime),
        _select("safeguarding", "Safeguarding (a child at risk now)", ("no", "yes"),
                "yes" if case.safeguarding else "no"),
    ]
    return _modal(EDIT_CALLBACK, "Edit labels", blocks,
                  metadata(ref=case.reference, channel=channel))


def read_labels(values: dict[str, Any]) -> dict[str, Any]:
    """The edit modal's state as keyword arguments for ``LabelChange``."""
    def selected(block: str) -> str | None:
        option = (values.get(block, {}).get("value") or {}).get("selected_option")
        return option["value"] if option else None

    def checked(block: str) -> list[str]:
        options = (values.get(block, {}).get("value") or {}).get("selected_options") or []
        return [o["value"] for o in options]

    safeguarding = selected("safeguarding")
    return {"intent": selected("intent"), "regime": selected("regime"),
            "aspects": checked("aspects"), "inspectorates": checked("inspectorates"),
            "safeguarding": None if safeguarding is None else safeguarding == "yes"}


def _text_input(block_id: str, label: str, *, multiline: bool = False,
                optional: bool = False, hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _plain(label),
                             "optional": optional,
                             "element": {"type": "plain_text_input", "action_id": "value",
                                         "multiline": multiline, "max_length": 500}}
    if hint:
        block["hint"] = _plain(hint)
    return block


def input_value(values: dict[str, Any], block: str) -> str:
    element = values.get(block, {}).get("value") or {}
    if element.get("type") == "static_select" or "selected_option" in element:
        option = element.get("selected_option")
        return option["value"] if option else ""
    return (element.get("value") or "").strip()


def link_view(case: Case, channel: str | None) -> dict[str, Any]:
    blocks = [
        _text_input("reference", "The other case's reference", hint="For example "
                    "CMP-2026-00042"),
        {"type": "input", "block_id": "mode", "label": _plain("What to do"),
         "element": {"type": "radio_buttons", "action_id": "value",
                     "initial_option": _option("link", "Link: investigate together"),
                     "options": [_option("link", "Link: investigate together"),
                                 _option("merge", f"Merge {case.reference} into it")]}},
    ]
    return _modal(LINK_CALLBACK, "Link or merge", [_about(case.reference), *blocks],
                  metadata(ref=case.reference, channel=channel))


def read_mode(values: dict[str, Any]) -> str:
    option = (values.get("mode", {}).get("value") or {}).get("selected_option")
    return option["value"] if option else "link"


def out_of_scope_view(case: Case, channel: str | None) -> dict[str, Any]:
    blocks = [_text_input("reason", "Why is this outside the complaints procedure?",
                          multiline=True)]
    return _modal(OUT_OF_SCOPE_CALLBACK, "Out of scope", [_about(case.reference), *blocks],
                  metadata(ref=case.reference, channel=channel), submit="Mark out of scope")


def close_view(case: Case, channel: str | None) -> dict[str, Any]:
    blocks = [
        {"type": "input", "block_id": "outcome", "label": _plain("Outcome"),
         "element": {"type": "static_select", "action_id": "value",
                     "options": [_option(o, o) for o in OUTCOMES]}},
        _text_input("note", "Note (no personal details)", multiline=True, optional=True),
    ]
    return _modal(CLOSE_CALLBACK, "Close case", [_about(case.reference), *blocks],
                  metadata(ref=case.reference, channel=channel), submit="Close case")


def notice_view(text: str) -> dict[str, Any]:
    """A modal that only says something (the submission could not be applied)."""
    return {"type": "modal", "callback_id": "case_notice", "title": _plain("Case"),
            "close": _plain("Close"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _chunks(text: str) -> list[str]:
    return [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)][:MAX_TEXT_BLOCKS] or [""]


def text_view(reference: str, text: str) -> dict[str, Any]:
    """The complaint's text for one member of staff (plain text: no Slack formatting)."""
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text":
               "Personal data: viewing is recorded in the audit trail. Do not copy it "
               "into channels."}]}]
    blocks += [{"type": "section", "text": _plain(part or "(no text)")}
               for part in _chunks(text)]
    return _modal(TEXT_CALLBACK, "Complaint text", [_about(reference), *blocks],
                  metadata(ref=reference),
                  submit=None)


def letter_preview_view(case: Case, letter: Letter, channel: str | None) -> dict[str, Any]:
    """The held letter as it will be sent, with an approve button (the modal's submit)."""
    where = (f"by email to {letter.recipient}" if letter.delivery == "email"
             else "by post (a printable copy goes to the case thread)")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text":
                                     f"*{letter.subject}*\nGoes {where}.\nHeld: "
                                     f"{letter.hold_reason or 'for approval'}"[:2900]}},
        {"type": "divider"},
    ]
    blocks += [{"type": "section", "text": _plain(part)} for part in _chunks(letter.body_text)]
    return _modal(APPROVE_CALLBACK, "Approve letter", [_about(case.reference), *blocks],
                  metadata(ref=case.reference, letter=letter.id, channel=channel),
                  submit="Approve and send")
