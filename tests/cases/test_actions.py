"""Staff changes to a case (intake.cases.actions), on SQLite and PostgreSQL.

Cases are made by the real pipeline from a phone complaint received Monday 2026-11-23
(RULES.md section 6, first row), so every check starts from what the bot really stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from intake import pipeline
from intake import settings as settings_mod
from intake.cases import actions
from intake.cases.actions import ActionError, LabelChange
from intake.cases.db import Store
from intake.cases.models import (
    Alert,
    AuditEntry,
    Case,
    CaseLink,
    Label,
    OutboxItem,
    SlackPost,
)
from intake.channels.phone import phone_record
from intake.letters import letter_kind_for
from intake.settings import Settings
from tests.test_pipeline import FORM

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
ACTOR = "staff:U0STAFF"


@pytest.fixture
def staff_settings(settings: Settings) -> Iterator[Settings]:
    """Slack on with staff, every label under review: acknowledgements are held."""
    with settings_mod.override_settings(
            database_url=settings.database_url, slack_bot_token="xoxb-t",
            slack_signing_secret="s", slack_triage_channel="C0TRIAGE",
            slack_staff=["U0STAFF"], review_threshold=1.0,
            duty_email="duty@example.org") as s:
        yield s


def make_case(store: Store, settings: Settings, **form: object) -> str:
    record = phone_record({**FORM, "call_time": NOW.isoformat(), **form}, operator="op-1",
                          now=NOW)
    outcome = pipeline.process_message(store, pipeline.accept(store, record), settings)
    assert outcome is not None and outcome.case_reference
    return outcome.case_reference


def audit_actions(store: Store, reference: str) -> list[tuple[str, str]]:
    with store.session() as s:
        return [(a.actor, a.action) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.case_reference == reference)
            .order_by(AuditEntry.id))]


def test_confirm_supersedes_model_labels_with_staff_copies(store: Store,
                                                           settings: Settings) -> None:
    ref = make_case(store, settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        before = {(lb.name, lb.value) for lb in case.labels}
        assert actions.confirm_labels(s, case, ACTOR) == len(before)
    with store.session() as s:
        case = actions.find_case(s, ref)
        live = [lb for lb in case.labels if lb.superseded_at is None]
        assert {(lb.name, lb.value) for lb in live} == before
        assert {lb.source for lb in live} == {ACTOR}
        assert all(lb.source.startswith("model:") for lb in case.labels
                   if lb.superseded_at is not None)
        assert case.needs_review is False
    assert (ACTOR, "labels_confirmed") in audit_actions(store, ref)


def test_relabel_regime_recomputes_deadlines_and_keeps_history(store: Store,
                                                               settings: Settings) -> None:
    ref = make_case(store, settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        assert case.deadline_summary["out_of_time"] is True  # OFS: limit ended 2026-11-20
        changed = actions.relabel(s, case, ACTOR, LabelChange(regime="jar"), settings)
        assert changed == ["regime"]
    with store.session() as s:
        case = actions.find_case(s, ref)
        # JAR (001_… para 7-9): ack 2 working days, respond 20, limit one month after
        # publication (2026-11-06 -> 2026-12-06), progress reminder at 15 working days.
        live = {d.kind: d.due_date for d in case.deadlines if d.superseded_at is None}
        assert live == {"acknowledge_by": date(2026, 11, 25),
                        "respond_by": date(2026, 12, 21),
                        "time_limit_ends": date(2026, 12, 6),
                        "progress_update": date(2026, 12, 14)}
        assert {d.rule for d in case.deadlines if d.superseded_at is None} == {"JAR"}
        old = [d for d in case.deadlines if d.superseded_at is not None]
        assert {d.rule for d in old} == {"OFS-2024"}
        assert case.deadline_summary["out_of_time"] is False
        assert "out_of_time" not in case.flags
        regime = [lb for lb in case.labels if lb.name == "regime"]
        assert [(lb.value, lb.source, lb.superseded_at is None) for lb in regime][-1] == \
            ("jar", ACTOR, True)
        assert any(lb.superseded_at is not None and lb.value == "ofsted" for lb in regime)
    with store.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "labels_corrected")
                          ).one()
        assert entry.actor == ACTOR
        assert entry.detail == {"before": {"regime": "ofsted"}, "after": {"regime": "jar"}}


def test_relabel_refuses_bad_values_naming_the_field(store: Store,
                                                     settings: Settings) -> None:
    ref = make_case(store, settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        with pytest.raises(ActionError) as bad:
            actions.relabel(s, case, ACTOR, LabelChange(regime="narnia"), settings)
        assert bad.value.field == "regime"
        with pytest.raises(ActionError) as aspects:
            actions.relabel(s, case, ACTOR, LabelChange(intent="enquiry"), settings)
        assert aspects.value.field == "aspects"  # RULES.md 1: enquiries carry no aspects
        assert actions.relabel(s, case, ACTOR, LabelChange(regime=case.regime),
                               settings) == []


def test_relabel_rerenders_the_held_letter(store: Store, staff_settings: Settings) -> None:
    ref = make_case(store, staff_settings, email="dawn@example.org", email_consent="yes")
    with store.session() as s:
        case = actions.find_case(s, ref)
        [held] = [lt for lt in case.letters if lt.status == "held"]
        assert held.kind == "acknowledgement"
        old_subject = held.subject
        actions.relabel(s, case, ACTOR, LabelChange(intent="information_request",
                                                    aspects=[]), staff_settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        [held] = [lt for lt in case.letters if lt.status == "held"]
        assert held.kind == letter_kind_for("information_request")
        assert held.subject != old_subject and ref in held.subject
        assert ref in held.body_text
        posts = s.scalars(select(SlackPost).where(SlackPost.case_id == case.id)).all()
        assert [p.purpose for p in posts].count("triage") >= 1  # the post is refreshed


def test_relabel_to_safeguarding_raises_the_alert(store: Store,
                                                  staff_settings: Settings) -> None:
    ref = make_case(store, staff_settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        assert not case.safeguarding
        actions.relabel(s, case, ACTOR, LabelChange(safeguarding=True), staff_settings)
    with store.session() as s:
        [alert] = s.scalars(select(Alert)).all()
        assert alert.kind == "safeguarding" and alert.sends == 1
        mail = s.scalars(select(OutboxItem).where(OutboxItem.purpose == "alert")).one()
        assert mail.recipients == ["duty@example.org"]
        assert b"shouted" not in mail.raw  # structured facts only, never the text


def test_assign_link_merge_and_close_are_audited(store: Store, settings: Settings) -> None:
    first = make_case(store, settings)
    second = make_case(store, settings)  # same URN: a proposed link to the first
    with store.session() as s:
        case = actions.find_case(s, second)
        actions.assign(s, case, ACTOR, "U0INVESTIGATOR")
        with pytest.raises(ActionError):
            actions.link(s, case, second, ACTOR)
        with pytest.raises(ActionError, match="No case"):
            actions.link(s, case, "CMP-1999-00001", ACTOR)
        actions.link(s, case, first, ACTOR)
        [row] = s.scalars(select(CaseLink)).all()
        assert row.kind == "confirmed"  # the proposal was confirmed, not duplicated
    with store.session() as s:
        case = actions.find_case(s, second)
        assert case.assignee == "U0INVESTIGATOR"
        actions.merge(s, case, first, ACTOR)
    with store.session() as s:
        case = actions.find_case(s, second)
        assert (case.status, case.outcome) == ("closed", f"Merged into {first}")
        assert s.scalars(select(CaseLink)).one().kind == "merged"
        with pytest.raises(ActionError, match="closed"):
            actions.assign(s, case, ACTOR, "U0OTHER")
    assert [a for _, a in audit_actions(store, second)][-3:] == ["assigned", "linked",
                                                                  "merged"]
    assert "merged_in" in [a for _, a in audit_actions(store, first)]


def test_out_of_scope_and_close_need_a_reason(store: Store, settings: Settings) -> None:
    ref = make_case(store, settings)
    other = make_case(store, settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        with pytest.raises(ActionError) as empty:
            actions.mark_out_of_scope(s, case, ACTOR, "   ")
        assert empty.value.field == "reason"
        actions.mark_out_of_scope(s, case, ACTOR, "About a school's own admissions")
        with pytest.raises(ActionError):
            actions.close_case(s, actions.find_case(s, other), ACTOR, "")
        actions.close_case(s, actions.find_case(s, other), ACTOR, "Not upheld")
    with store.session() as s:
        case = actions.find_case(s, ref)
        assert case.status == "closed" and "out_of_scope" in case.flags
        assert case.outcome == "Out of scope: About a school's own admissions"
        assert case.closed_at is not None
        assert actions.find_case(s, other).outcome == "Not upheld"


def test_show_text_returns_the_words_and_audits_the_viewing(store: Store,
                                                            settings: Settings) -> None:
    ref = make_case(store, settings)
    with store.session() as s:
        text = actions.show_text(s, actions.find_case(s, ref), ACTOR)
    assert "shouted at a member of staff" in text
    assert audit_actions(store, ref)[-1] == (ACTOR, "text_viewed")


def test_approving_a_held_letter_sends_it_once(store: Store,
                                              staff_settings: Settings) -> None:
    ref = make_case(store, staff_settings, email="dawn@example.org", email_consent="yes")
    with store.session() as s:
        case = actions.find_case(s, ref)
        [held] = [lt for lt in case.letters if lt.status == "held"]
        actions.approve_letter(s, case, held.id, ACTOR, staff_settings)
        letter_id = held.id
    with store.session() as s:
        case = actions.find_case(s, ref)
        [letter] = [lt for lt in case.letters if lt.id == letter_id]
        assert (letter.status, letter.approved_by) == ("queued", ACTOR)
        items = s.scalars(select(OutboxItem).where(OutboxItem.letter_id == letter_id)).all()
        assert [i.recipients for i in items] == [["dawn@example.org"]]
        with pytest.raises(ActionError, match="already queued"):
            actions.approve_letter(s, case, letter_id, ACTOR, staff_settings)
    assert (ACTOR, "letter_approved") in audit_actions(store, ref)


def test_staff_labels_are_kept_as_training_signal(store: Store, settings: Settings) -> None:
    ref = make_case(store, settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        actions.relabel(s, case, "staff:U0A", LabelChange(aspects=["conduct"]), settings)
    with store.session() as s:
        rows = s.scalars(select(Label).join(Case).where(Case.reference == ref,
                                                        Label.source == "staff:U0A")).all()
        assert [(r.name, r.value, r.rule) for r in rows] == [("aspect", "conduct", "staff")]


def test_relabel_to_withhold_gives_48_hours_and_alerts(store: Store,
                                                       staff_settings: Settings) -> None:
    from bot.triage import case_blocks

    ref = make_case(store, staff_settings)
    with store.session() as s:
        case = actions.find_case(s, ref)
        actions.relabel(s, case, ACTOR, LabelChange(intent="withhold_publication"),
                        staff_settings)
        # RULES.md 8: respond within 48 hours of the received timestamp (004_… Annex D).
        [respond] = [d for d in case.deadlines
                     if d.kind == "respond_by" and d.superseded_at is None]
        assert respond.due_at == NOW + timedelta(hours=48)
        assert respond.rule == "WITHHOLD-48H"
        blocks = json.dumps(case_blocks(case), ensure_ascii=False)
        assert "10:15am on Wednesday 25 November 2026" in blocks
        assert [a.kind for a in s.scalars(select(Alert))] == ["withhold"]
