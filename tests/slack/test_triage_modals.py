"""Triage modals: approve a held letter from its preview, link or merge, out of scope, close;
and the Acknowledge button on an urgent alert. Real app, signed requests, fake Web API."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from intake.cases.models import Alert, CaseLink, OutboxItem
from tests.slack.conftest import OUTSIDER, STAFF_USER, TRIAGE_CHANNEL, SlackHarness
from tests.slack.triage_helpers import (
    SAFEGUARDING,
    audit_of,
    load_case,
    new_case,
    opened_view,
    posted_button,
    press,
    select_value,
    submit,
    text_value,
    wait_update,
)


@pytest.mark.slack_settings(review_threshold=1.0)
async def test_held_letter_is_previewed_then_approved_and_sent(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot, email="dawn@example.org", email_consent="yes")
    [held] = [lt for lt in case.letters if lt.status == "held"]
    approve = posted_button(slack_bot, case, "case_preview_letter")
    assert approve["value"] == f"{case.reference}|{held.id}"
    await press(slack_bot, case, approve["action_id"], STAFF_USER, value=approve["value"])
    view = await opened_view(slack_bot, 1)
    assert view["callback_id"] == "case_approve_letter"
    assert view["submit"]["text"] == "Approve and send"
    shown = json.dumps(view, ensure_ascii=False)
    assert case.reference in shown and "dawn@example.org" in shown  # the preview
    assert held.body_text.splitlines()[0] in shown
    reply = await submit(slack_bot, view, {}, STAFF_USER)
    assert reply.status == 200
    await wait_update(slack_bot, case.slack_ts or "", "acknowledgement: queued")
    with slack_bot.store.session() as s:
        [item] = s.scalars(select(OutboxItem).where(OutboxItem.letter_id == held.id)).all()
        assert item.recipients == ["dawn@example.org"]
    after = load_case(slack_bot, case.reference)
    assert [lt.approved_by for lt in after.letters if lt.id == held.id] == \
        [f"staff:{STAFF_USER}"]
    await slack_bot.fake.wait_until(lambda: any(
        c.params.get("thread_ts") == case.slack_ts and "approved" in c.params["text"]
        for c in slack_bot.fake.calls_to("chat.postMessage")), what="thread note")
    # A second submission (a double click) sends nothing more and says why.
    await submit(slack_bot, view, {}, STAFF_USER)
    [note] = await slack_bot.fake.wait_for("chat.postEphemeral")
    assert "already queued" in note.params["text"]
    with slack_bot.store.session() as s:
        assert len(s.scalars(select(OutboxItem).where(OutboxItem.letter_id == held.id)
                             ).all()) == 1


async def test_link_modal_links_and_refuses_unknown_references(
        slack_bot: SlackHarness) -> None:
    first = await new_case(slack_bot, urn="123456", provider="Oak School")
    second = await new_case(slack_bot)
    await press(slack_bot, second, "case_link", STAFF_USER)
    view = await opened_view(slack_bot, 1)
    link = {"value": {"type": "radio_buttons", "selected_option": {"value": "link"}}}
    bad = await submit(slack_bot, view, {"reference": text_value("CMP-1999-99999"),
                                         "mode": link}, STAFF_USER)
    assert bad.json == {"response_action": "errors",
                        "errors": {"reference": "No case with reference CMP-1999-99999."}}
    good = await submit(slack_bot, view, {"reference": text_value(first.reference.lower()),
                                          "mode": link}, STAFF_USER)
    assert good.status == 200 and good.text in ("", "null")
    await wait_update(slack_bot, second.slack_ts or "", f"{first.reference}: confirmed")
    with slack_bot.store.session() as s:
        assert [(r.kind, r.created_by) for r in s.scalars(select(CaseLink))] == \
            [("confirmed", f"staff:{STAFF_USER}")]


async def test_merge_from_the_modal_closes_the_merged_case(slack_bot: SlackHarness) -> None:
    first = await new_case(slack_bot)
    second = await new_case(slack_bot)
    await press(slack_bot, second, "case_link", STAFF_USER)
    view = await opened_view(slack_bot, 1)
    merge = {"value": {"type": "radio_buttons", "selected_option": {"value": "merge"}}}
    await submit(slack_bot, view, {"reference": text_value(first.reference), "mode": merge},
                 STAFF_USER)
    await wait_update(slack_bot, second.slack_ts or "", f"Merged into {first.reference}")
    after = load_case(slack_bot, second.reference)
    assert after.status == "closed"
    assert "merged_in" in [a.action for a in audit_of(slack_bot, first.reference)]


async def test_out_of_scope_needs_a_reason(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    await press(slack_bot, case, "case_out_of_scope", STAFF_USER)
    view = await opened_view(slack_bot, 1)
    empty = await submit(slack_bot, view, {"reason": text_value("  ")}, STAFF_USER)
    assert empty.json["response_action"] == "errors" and "reason" in empty.json["errors"]
    await submit(slack_bot, view, {"reason": text_value("An admissions appeal")}, STAFF_USER)
    update = await wait_update(slack_bot, case.slack_ts or "",
                               "Out of scope: An admissions appeal")
    ids = [e.get("action_id") for b in update.params["blocks"] for e in b.get("elements", [])]
    assert ids == ["case_show_text"]  # a closed case offers no more changes
    assert [a.action for a in audit_of(slack_bot, case.reference)][-1] == "out_of_scope"


async def test_close_with_an_outcome(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    await press(slack_bot, case, "case_close", STAFF_USER)
    view = await opened_view(slack_bot, 1)
    options = [o["value"] for b in view["blocks"] if b.get("block_id") == "outcome"
               for o in b["element"]["options"]]
    assert "Not upheld" in options
    await submit(slack_bot, view, {"outcome": select_value("Not upheld"),
                                   "note": text_value("")}, STAFF_USER)
    await wait_update(slack_bot, case.slack_ts or "", "closed: Not upheld")
    entry = audit_of(slack_bot, case.reference)[-1]
    assert (entry.actor, entry.action, entry.detail) == \
        (f"staff:{STAFF_USER}", "closed", {"outcome": "Not upheld"})


async def test_modal_submission_by_non_staff_changes_nothing(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot)
    await press(slack_bot, case, "case_close", STAFF_USER)
    view = await opened_view(slack_bot, 1)
    await submit(slack_bot, view, {"outcome": select_value("Upheld")}, OUTSIDER)
    await slack_bot.fake.wait_for("chat.postEphemeral")
    assert load_case(slack_bot, case.reference).status == "open"
    assert audit_of(slack_bot, case.reference)[-1].action == "refused"


@pytest.mark.slack_settings(duty_email="duty@example.org")
async def test_alert_acknowledge_button(slack_bot: SlackHarness) -> None:
    case = await new_case(slack_bot, what_happened=SAFEGUARDING)
    assert case.safeguarding
    await slack_bot.fake.wait_until(lambda: any(
        "URGENT" in str(c.params.get("text")) for c in slack_bot.fake.calls_to(
            "chat.postMessage")), what="alert post")
    [post] = [c for c in slack_bot.fake.calls_to("chat.postMessage")
              if "URGENT" in str(c.params.get("text"))]
    [ack] = [e for b in post.params["blocks"] for e in b.get("elements", [])
             if e.get("action_id") == "ack_alert"]
    await slack_bot.fake.wait_until(lambda: _posted_ts(slack_bot, post) is not None)
    ts = _posted_ts(slack_bot, post)
    await slack_bot.requests.block_action("ack_alert", ack["value"], user_id=OUTSIDER,
                                          message_ts=ts)
    await slack_bot.fake.wait_for("chat.postEphemeral")
    await slack_bot.requests.block_action("ack_alert", ack["value"], user_id=STAFF_USER,
                                          message_ts=ts)
    await slack_bot.fake.wait_for("chat.update")
    await asyncio.sleep(0.3)  # nothing else may update the same message afterwards
    [update] = [c for c in slack_bot.fake.calls_to("chat.update") if c.params["ts"] == ts]
    assert update.params["channel"] == TRIAGE_CHANNEL
    assert f"acknowledged by <@{STAFF_USER}>" in update.params["text"]
    with slack_bot.store.session() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.acked_by == f"staff:{STAFF_USER}" and alert.acked_at is not None
    actions = [(a.actor, a.action) for a in audit_of(slack_bot, case.reference)]
    assert (f"slack:{OUTSIDER}", "refused") in actions
    assert (f"staff:{STAFF_USER}", "alert_acknowledged") in actions


def _posted_ts(bot: SlackHarness, post: object) -> str | None:
    from intake.cases.models import SlackPost

    with bot.store.session() as s:
        row = s.scalars(select(SlackPost).where(SlackPost.purpose == "alert",
                                                SlackPost.status == "sent")).first()
        return row.result_ts if row else None


def test_modals_keep_within_slack_limits() -> None:
    """Titles of at most 24 characters, at most 100 blocks, section text under 3,000."""
    from datetime import UTC, datetime

    from bot import case_modals as modals
    from intake.cases.models import Case, Letter

    case = Case(reference="CMP-2026-1234567", channel="email", status="open",
                received_at=datetime.now(UTC), intent="complaint", aspects=["conduct"],
                inspectorates=["ofsted"], regime="ofsted", safeguarding=False,
                confidence={}, labels=[])
    letter = Letter(id=7, kind="acknowledgement", status="held", delivery="email",
                    recipient="a@example.org", subject="Your complaint", body_text="y" * 200_000,
                    body_html="")
    views = [modals.edit_labels_view(case, "C1"), modals.link_view(case, "C1"),
             modals.out_of_scope_view(case, "C1"), modals.close_view(case, "C1"),
             modals.text_view(case.reference, "x" * 200_000),
             modals.letter_preview_view(case, letter, "C1")]
    for view in views:
        assert len(view["title"]["text"]) <= 24
        assert len(view["blocks"]) <= 100
        assert len(view["private_metadata"]) <= 3000
        for block in view["blocks"]:
            assert len(block.get("text", {}).get("text", "")) <= 3000
