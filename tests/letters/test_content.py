"""What letters say: the right paragraphs for each situation, dates, escaping, citations."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from intake.letters import (
    LETTER_KINDS,
    format_date,
    letter_kind_for,
    missing_information,
    render_letter,
    render_printable,
)
from intake.letters.dates import format_datetime
from intake.records import Classification, Contact
from tests.letters.cases import (
    FRI_18_DEC_2026,
    LONDON,
    MON_23_NOV_2026,
    THU_28_MAR_2024,
    Labels,
    golden_cases,
    letter_input,
)


def flat(text: str) -> str:
    """Letter text with line wrapping undone, so phrases can be searched whole."""
    return " ".join(text.split())


def ack(labels: Labels, received: datetime = MON_23_NOV_2026, **kw: object) -> str:
    data = letter_input(labels, received, reference="CMP-2026-00001", **kw)
    return flat(render_letter("acknowledgement", data).text)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2027, 1, 7), "Thursday 7 January 2027"),
    (date(2026, 12, 1), "Tuesday 1 December 2026"),
    (date(2024, 2, 29), "Thursday 29 February 2024"),
])
def test_dates_are_written_the_gov_uk_way(day: date, expected: str) -> None:
    assert format_date(day) == expected


def test_48_hour_deadline_is_a_local_time_and_date() -> None:
    assert format_datetime(datetime(2026, 11, 25, 10, 5, tzinfo=LONDON)) == \
        "10:05am on Wednesday 25 November 2026"
    assert format_datetime(datetime(2026, 7, 1, 11, 0, tzinfo=LONDON)) == \
        "11am on Wednesday 1 July 2026"
    summer_utc = datetime.fromisoformat("2026-07-01T16:30:00+00:00")
    assert format_datetime(summer_utc) == "5:30pm on Wednesday 1 July 2026"
    assert format_datetime(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == \
        "12:30am on Thursday 2 July 2026"
    assert format_datetime(datetime(2026, 12, 1, 12, 0)) == "12pm on Tuesday 1 December 2026"


def test_received_date_is_the_london_date() -> None:
    late_evening_utc = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 00:30 BST on 1 July
    data = letter_input(Labels(aspects=["conduct"]), late_evening_utc, reference="CMP-2026-5")
    assert "We received your complaint on Wednesday 1 July 2026" in flat(
        render_letter("acknowledgement", data).text)


def test_ofsted_acknowledgement_states_reference_dates_and_telephone_call() -> None:
    text = ack(Labels(aspects=["judgement"], published=date(2026, 11, 18)))
    assert "Your reference number is CMP-2026-00001" in text
    assert "We received your complaint on Monday 23 November 2026" in text
    assert "We aim to respond by Thursday 7 January 2027 (Ofsted's complaints policy, " \
        "paragraph 28)" in text
    assert "investigating officer will telephone you" in text
    assert "paragraph 23" in text


def test_subject_carries_the_case_reference() -> None:
    data = letter_input(Labels(aspects=["conduct"]), MON_23_NOV_2026,
                        reference="CMP-2026-00042")
    assert render_letter("acknowledgement", data).subject == "Your complaint: CMP-2026-00042"
    for kind in LETTER_KINDS:
        assert "CMP-2026-00042" in render_letter(kind, data).subject


def test_out_of_time_paragraph_only_when_out_of_time() -> None:
    late = ack(Labels(aspects=["judgement"], published=date(2026, 11, 6)))
    assert "it is out of time" in late
    assert "not normally considered" in late
    assert "that time ended on Friday 20 November 2026" in late
    assert "A member of staff will look at your complaint and decide" in late
    in_time = ack(Labels(aspects=["judgement"], published=date(2026, 11, 18)))
    unknown = ack(Labels(aspects=["judgement"]))
    assert "out of time" not in in_time and "out of time" not in unknown


def test_jar_out_of_time_uses_its_one_month_limit() -> None:
    text = ack(Labels(aspects=["judgement"], regime="jar", published=date(2026, 10, 1)),
               FRI_18_DEC_2026)
    assert "within one month of the issue of the final inspection report" in text
    assert "paragraph 7" in text


def test_missing_information_asks_for_each_missing_item() -> None:
    text = ack(Labels(aspects=["process"]), missing=["contact_details", "availability"])
    assert "Information we need from you" in text
    assert "paragraph 13" in text
    assert "a telephone number we can call you on" in text
    assert "available for a telephone call" in text
    assert "what you would like to happen" not in text
    assert "Information we need from you" not in ack(Labels(aspects=["process"]))


def test_special_measures_caveat_only_for_judgement_complaints() -> None:
    caveat = "not reconsidered under the formal complaints step"
    judged = ack(Labels(aspects=["judgement"], special_measures=True))
    assert caveat in judged and "paragraph 22" in judged
    assert "conduct or about how the inspection was carried out" in judged
    assert caveat not in ack(Labels(aspects=["conduct"], special_measures=True))
    assert caveat not in ack(Labels(aspects=["judgement"]))


def test_safeguarding_advice_only_when_flagged() -> None:
    flagged = ack(Labels(aspects=["process"], safeguarding=True))
    assert "If a child is in immediate danger, call 999." in flagged
    assert "children's social care team at the local council" in flagged
    assert "shared what you told us with our duty team" in flagged
    assert "999" not in ack(Labels(aspects=["process"]))


def test_safeguarding_advice_reaches_every_kind_of_letter() -> None:
    data = letter_input(Labels(aspects=["process"], safeguarding=True), MON_23_NOV_2026,
                        reference="CMP-2026-00001")
    for kind in LETTER_KINDS:
        if kind == "progress_update":
            continue  # a later letter; the first one gave the advice
        assert "call 999" in render_letter(kind, data).text, kind


def test_jtai_conduct_solely_about_police_names_hmicfrs() -> None:
    text = ack(Labels(aspects=["conduct"], inspectorates=["hmic"], regime="jtai"),
               FRI_18_DEC_2026)
    assert "only about the conduct of an inspector from His Majesty's Inspectorate of " \
        "Constabulary" in text
    assert "will reply to you directly" in text
    assert "Ofsted, as the lead inspectorate" not in text


def test_jtai_findings_are_coordinated_by_ofsted_with_30_day_response() -> None:
    text = ack(Labels(aspects=["judgement"], regime="jtai"), FRI_18_DEC_2026)
    assert "Ofsted, as the lead inspectorate" in text
    assert "by Wednesday 3 February 2027" in text
    assert "Annex D" in text


def test_jar_routes_joint_panel_and_corporate_assessment() -> None:
    panel = ack(Labels(aspects=["judgement"], inspectorates=["cqc", "ofsted"], regime="jar"),
                FRI_18_DEC_2026)
    assert "joint inspectorate complaints investigation panel" in panel
    assert "paragraph 8c" in panel
    assert "by Wednesday 20 January 2027" in panel and "paragraph 9" in panel
    corporate = ack(Labels(aspects=["judgement"], inspectorates=["audit_commission"],
                           regime="jar", corporate_assessment=True), FRI_18_DEC_2026)
    assert "referred to the Audit Commission" in corporate and "paragraph 8d" in corporate
    assert "within 10 working days of receiving the pre-publication corporate assessment " \
        "report" in corporate
    assert "Audit Commission" not in panel


def test_slac_health_care_goes_to_cqc() -> None:
    text = ack(Labels(aspects=["process"], inspectorates=["cqc", "ofsted"], regime="slac"))
    assert "health care aspects of the inspection are dealt with by the Care Quality " \
        "Commission" in text
    assert "paragraph 64" in text
    assert "Childrens-Services-Inspection@cqc.org.uk" in text
    assert "Care Quality Commission" not in ack(Labels(aspects=["process"], regime="slac"))


def test_external_regime_signposts_the_other_body() -> None:
    text = ack(Labels(aspects=["judgement"], inspectorates=["cqc"], regime="external"))
    assert "Please send your complaint to the Care Quality Commission directly" in text
    assert "paragraph 101" in text
    assert "investigating officer" not in text


def test_withhold_promises_48_hours_with_date_and_time() -> None:
    data = letter_input(Labels(intent="withhold_publication"), MON_23_NOV_2026,
                        reference="CMP-2026-00002")
    text = flat(render_letter("withhold", data).text)
    assert "We aim to respond within 48 hours, by 10:05am on Wednesday 25 November 2026" in text
    assert "exceptional circumstances" in text and "paragraph 21" in text


def test_escalation_versions_follow_the_received_date() -> None:
    new = letter_input(Labels(intent="escalation"), MON_23_NOV_2026, reference="CMP-2026-3")
    old = letter_input(Labels(intent="escalation"), THU_28_MAR_2024, reference="CMP-2024-3")
    after = flat(render_letter("escalation", new).text)
    before = flat(render_letter("escalation", old).text)
    assert "no longer has an internal review step" in after
    assert "within three months of the date of our final response" in after
    assert "Parliamentary and Health Service Ombudsman" in after
    assert "request for an internal review" not in after
    assert "within 15 working days" in before and "paragraph 29" in before
    assert "We aim to send you a written response by Tuesday 14 May 2024" in before


def test_jar_escalation_is_answered_within_20_working_days() -> None:
    data = letter_input(Labels(intent="escalation", regime="jar"), FRI_18_DEC_2026,
                        reference="CMP-2026-4")
    text = flat(render_letter("escalation", data).text)
    assert "by Wednesday 20 January 2027" in text and "paragraph 14" in text


def test_every_letter_says_how_to_add_information_and_confidentiality() -> None:
    for name, case in golden_cases().items():
        if case.printable:
            continue
        text = flat(render_letter(case.kind, case.data).text)
        assert "reply to this email" in text, name
        assert case.data.reference in text, name
        assert "confidential" in text, name


def test_printable_letter_has_address_blocks_and_postal_reply() -> None:
    data = letter_input(Labels(aspects=["judgement"]), MON_23_NOV_2026,
                        reference="CMP-2026-00009", channel="phone",
                        address="12 High Street\nLeeds\nLS1 4AB")
    html = render_printable(data, "acknowledgement", letter_date=date(2026, 11, 24))
    assert html.startswith("<!DOCTYPE html>")
    assert re.search(r'<address class="recipient">\s*Alex Morgan<br>\s*12 High Street<br>'
                     r"\s*Leeds<br>\s*LS1 4AB<br>", html)
    assert "Piccadilly Gate" in html and "Tuesday 24 November 2026" in html
    assert "write to us at the address at the top of this letter" in flat(html)
    assert "reply to this email" not in html
    assert "@media print" in html


def test_hostile_text_is_escaped_in_html() -> None:
    data = letter_input(Labels(aspects=["conduct"], provider="<img src=x onerror=alert(1)>"),
                        MON_23_NOV_2026, reference="CMP-2026-00010",
                        name="<script>alert('x')</script>", subject="</title><b>hi</b>")
    for kind in LETTER_KINDS:
        letter = render_letter(kind, data)
        assert "<script>" not in letter.html and "<b>hi</b>" not in letter.html
        assert "&lt;script&gt;" in letter.html
        assert "<script>alert('x')</script>" in letter.text
    printable = render_printable(data, "acknowledgement", letter_date=date(2026, 11, 24))
    assert "<script>" not in printable and "<img" not in printable


def test_letters_never_name_seed_files() -> None:
    for case in golden_cases().values():
        letter = render_letter(case.kind, case.data)
        for body in (letter.text, letter.html):
            assert not re.search(r"\b00\d_", body)
            assert ".txt" not in body and "…" not in body


def test_letter_records_template_and_facts_versions() -> None:
    case = golden_cases()["ofsted_conduct_in_time"]
    letter = render_letter(case.kind, case.data)
    assert re.fullmatch(r"letters-[\w.]+\+facts-[\w.]+", letter.template_version)
    assert len(letter.template_version) <= 64  # the letters.template_version column
    assert f'content="{letter.template_version};' in letter.html
    assert letter.template_version in letter.text


@pytest.mark.parametrize(("intent", "kind"), [
    ("complaint", "acknowledgement"), ("withhold_publication", "withhold"),
    ("escalation", "escalation"), ("information_request", "information_request"),
    ("provider_concern", "provider_concern"), ("enquiry", "enquiry"),
])
def test_letter_kind_for_intent(intent: str, kind: str) -> None:
    assert letter_kind_for(intent) == kind


def test_unknown_intent_or_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no letter for intent 'praise'"):
        letter_kind_for("praise")
    data = letter_input(Labels(), MON_23_NOV_2026, reference="CMP-2026-1")
    with pytest.raises(ValueError, match="unknown letter kind 'memo'"):
        render_letter("memo", data)


def _classification(**kw: object) -> Classification:
    base = Classification(intent="complaint", aspects=["judgement"], inspectorates=["ofsted"],
                          regime="ofsted", safeguarding=False, confidence={})
    return replace(base, **kw)


def test_missing_information_lists_para_13_gaps_in_order() -> None:
    c = _classification()
    assert missing_information(c, Contact(email="a@example.org"), "too short") == [
        "account", "actions_taken", "desired_outcome", "contact_details", "availability"]
    full = _classification(actions_taken="Raised it with the lead inspector",
                           desired_outcome="Grade reviewed", availability="Mornings")
    long_text = "The inspector ignored the evidence we provided about our curriculum " \
        "and refused to speak to the leaders responsible for it during the visit."
    assert missing_information(full, Contact(phone="0161 496 0000"), long_text) == []
    assert missing_information(full, Contact(email="a@example.org"), long_text) == [
        "contact_details"]


def test_missing_information_is_only_asked_of_complaints() -> None:
    for intent in ("enquiry", "information_request", "provider_concern", "escalation"):
        assert missing_information(_classification(intent=intent), Contact(), "") == []


def test_no_letter_prints_none_when_a_date_is_unknown() -> None:
    for name, case in golden_cases().items():
        data = replace(case.data, deadlines=replace(case.data.deadlines, respond_by=None,
                                                    time_limit_ends=None),
                       subject=None)
        for kind in LETTER_KINDS:
            letter = render_letter(kind, data)
            for body in (letter.text, letter.html):
                assert "None" not in body, f"{name}/{kind}"
                assert not re.search(r"\bby\s*\(", body), f"{name}/{kind}"
