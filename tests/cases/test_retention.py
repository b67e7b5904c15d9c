"""Purge, retention, subject access and erasure, and the letters pause switch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from intake import pipeline
from intake.cases.db import Store
from intake.cases.models import (
    AuditEntry,
    Case,
    Complainant,
    Letter,
    Message,
    OutboxItem,
    SlackPost,
)
from intake.cases.people import erase_person, subject_access
from intake.cases.purge import apply_retention, closed_before, purge_case
from intake.channels.phone import phone_record
from intake.settings import Settings
from intake.switches import LETTERS_PAUSED, release_paused_letters, set_switch

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FORM = {"caller_name": "Ms Rhian Price", "phone": "029 2018 0000",
        "email": "rhian.price@example.org", "email_consent": "yes", "role": "parent_carer",
        "provider": "Glan Yr Afon Nursery", "urn": "EY777777",
        "what_happened": "The inspector ignored what parents told her and the report says "
        "the nursery has 30 places when it has 24."}


def _case(store: Store, settings: Settings, **form: object) -> str:
    mid = pipeline.accept(store, phone_record({**FORM, **form}, operator="op", now=NOW))
    outcome = pipeline.process_message(store, mid, settings)
    assert outcome is not None and outcome.case_reference
    return outcome.case_reference


def _close(store: Store, ref: str, when: datetime) -> None:
    with store.session() as s:
        case = s.execute(select(Case).where(Case.reference == ref)).scalar_one()
        case.status, case.closed_at = "closed", when
        case.slack_channel, case.slack_ts = "C0TRIAGE", "1700000000.000100"


def _count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_purge_removes_personal_data_and_keeps_an_anonymised_audit_row(
        store: Store, settings: Settings) -> None:
    ref = _case(store, settings)
    keep = _case(store, settings, caller_name="Someone Else", email="else@example.org")
    _close(store, ref, NOW - timedelta(days=10))
    with store.session() as s:
        [case] = closed_before(s, date(2026, 11, 20))
        purge_case(s, case, "tester")
    with store.session() as s:
        refs = [c.reference for c in s.execute(select(Case)).scalars()]
        assert refs == [keep]
        assert s.execute(select(func.count()).select_from(Complainant)).scalar_one() == 1
        trail = s.execute(select(AuditEntry).where(AuditEntry.case_reference == ref)
                          ).scalars().all()
        purged = [a for a in trail if a.action == "purged"]
        assert len(purged) == 1 and purged[0].detail["intent"]
        blob = repr([a.detail for a in trail])
        assert "Rhian" not in blob and "rhian.price" not in blob
        redact = s.execute(select(SlackPost).where(SlackPost.purpose == "redact")).scalar_one()
        assert redact.method == "chat.update" and redact.payload["ts"] == "1700000000.000100"
    assert _count(store, Message) == 1 and _count(store, Letter) >= 1


def test_retention_purges_only_what_is_old_enough(store: Store, settings: Settings) -> None:
    old = _case(store, settings)
    recent = _case(store, settings, email="other@example.org")
    _close(store, old, NOW - timedelta(days=settings.retention_closed_case_days + 1))
    _close(store, recent, NOW - timedelta(days=5))
    with store.session() as s:
        counts = apply_retention(s, settings, NOW)
    assert counts["cases"] == 1
    with store.session() as s:
        assert [c.reference for c in s.execute(select(Case)).scalars()] == [recent]


def test_subject_access_finds_everything_about_one_address(
        sqlite_store: Store, settings: Settings) -> None:
    ref = _case(sqlite_store, settings)
    _case(sqlite_store, settings, caller_name="Other", email="other@example.org",
          phone="0113 496 0999")
    with sqlite_store.session() as s:
        data = subject_access(s, "Rhian.Price@example.org")
    assert [c["reference"] for c in data["cases"]] == [ref]
    assert data["complainants"][0]["phone"] == "029 2018 0000"
    assert data["letters"] and all(ref in lt["subject"] for lt in data["letters"])
    assert any(a["action"] == "case_opened" for a in data["audit"])
    with sqlite_store.session() as s:
        by_phone = subject_access(s, "+44 29 2018 0000")
    assert [c["reference"] for c in by_phone["cases"]] == [ref]


def test_erasure_keeps_open_cases_and_says_why(sqlite_store: Store,
                                               settings: Settings) -> None:
    open_ref = _case(sqlite_store, settings)
    closed_ref = _case(sqlite_store, settings)
    _close(sqlite_store, closed_ref, NOW)
    with sqlite_store.session() as s:
        result = erase_person(s, "rhian.price@example.org", "asked by email", "dpo")
    assert result["purged_cases"] == [closed_ref]
    assert result["kept_cases"] == [open_ref] and result["kept_reason"]
    with sqlite_store.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "person_erased")
                          ).scalar_one()
        assert entry.detail["reason"] == "asked by email"
        assert "rhian" not in repr(entry.detail)


def test_paused_letters_are_held_then_released(sqlite_store: Store,
                                               settings: Settings) -> None:
    with sqlite_store.session() as s:
        set_switch(s, LETTERS_PAUSED, True, "ops", "rules under review")
    ref = _case(sqlite_store, settings)
    with sqlite_store.session() as s:
        case = s.execute(select(Case).where(Case.reference == ref)).scalar_one()
        assert [lt.status for lt in case.letters] == ["held"]
        assert s.execute(select(func.count()).select_from(OutboxItem)).scalar_one() == 0
    with sqlite_store.session() as s:
        set_switch(s, LETTERS_PAUSED, False, "ops")
        assert release_paused_letters(s, "ops", settings) == 1
    with sqlite_store.session() as s:
        case = s.execute(select(Case).where(Case.reference == ref)).scalar_one()
        assert [(lt.status, lt.approved_by) for lt in case.letters] == [("queued", "ops")]
        assert s.execute(select(func.count()).select_from(OutboxItem)).scalar_one() == 1
