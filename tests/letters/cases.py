"""Representative letters: one per regime, intent and situation worth pinning down.

Dates come from the real deadline rules (RULES.md section 6 worked examples where possible),
so a golden file shows exactly what a complainant would read for that case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from intake.letters import LetterInput
from intake.records import Classification, Contact
from intake.rules.deadlines import compute_deadlines

LONDON = ZoneInfo("Europe/London")
MON_23_NOV_2026 = datetime(2026, 11, 23, 10, 5, tzinfo=LONDON)
FRI_18_DEC_2026 = datetime(2026, 12, 18, 16, 40, tzinfo=LONDON)
THU_28_MAR_2024 = datetime(2024, 3, 28, 9, 30, tzinfo=LONDON)


@dataclass
class Case:
    kind: str
    data: LetterInput
    printable: bool = False
    large_print: bool = False


@dataclass
class Labels:
    intent: str = "complaint"
    aspects: list[str] = field(default_factory=list)
    inspectorates: list[str] = field(default_factory=lambda: ["ofsted"])
    regime: str = "ofsted"
    safeguarding: bool = False
    published: date | None = None
    provider: str | None = None
    urn: str | None = None
    special_measures: bool = False
    corporate_assessment: bool = False


def letter_input(labels: Labels, received_at: datetime, *, reference: str,
                 channel: str = "email", name: str | None = "Alex Morgan",
                 phone: str | None = "0161 496 0000", address: str | None = None,
                 missing: list[str] | None = None, subject: str | None = None) -> LetterInput:
    """A LetterInput built the way the pipeline builds it, with real deadlines."""
    c = Classification(
        intent=labels.intent, aspects=sorted(labels.aspects),
        inspectorates=sorted(labels.inspectorates), regime=labels.regime,
        safeguarding=labels.safeguarding, confidence={}, urn=labels.urn,
        report_published=labels.published, provider=labels.provider,
        special_measures=labels.special_measures,
        corporate_assessment=labels.corporate_assessment,
        actions_taken="Spoke to the lead inspector", desired_outcome="A review",
        availability="Weekday mornings",
    )
    d = compute_deadlines(regime=labels.regime, intent=labels.intent, received_at=received_at,
                          published=labels.published, aspects=labels.aspects)
    contact = Contact(name=name, email="alex@example.org" if channel == "email" else None,
                      phone=phone, address=address)
    return LetterInput(reference=reference, channel=channel, received_at=received_at,
                       classification=c, deadlines=d, complainant=contact,
                       missing=missing or [], subject=subject)


def _complaints() -> dict[str, Case]:
    return {
        "ofsted_out_of_time_safeguarding_special_measures": Case("acknowledgement", letter_input(
            Labels(aspects=["judgement", "process"], safeguarding=True,
                   published=date(2026, 11, 6), provider="Oakfield Primary School",
                   urn="123456", special_measures=True),
            MON_23_NOV_2026, reference="CMP-2026-00042",
            missing=["actions_taken", "availability"], subject="Complaint about inspection")),
        "ofsted_conduct_in_time": Case("acknowledgement", letter_input(
            Labels(aspects=["conduct"], published=date(2026, 11, 18),
                   provider="Little Acorns Nursery", urn="EY123456"),
            MON_23_NOV_2026, reference="CMP-2026-00043")),
        "ofsted_2015_out_of_time_missing_all": Case("acknowledgement", letter_input(
            Labels(aspects=["factual_accuracy"], published=date(2024, 3, 1)),
            THU_28_MAR_2024, reference="CMP-2024-00007", phone=None,
            missing=["account", "actions_taken", "desired_outcome", "contact_details",
                     "availability"])),
        "jtai_police_conduct_only": Case("acknowledgement", letter_input(
            Labels(aspects=["conduct"], inspectorates=["hmic"], regime="jtai"),
            FRI_18_DEC_2026, reference="CMP-2026-00101")),
        "jtai_findings_and_police_conduct": Case("acknowledgement", letter_input(
            Labels(aspects=["conduct", "judgement"], inspectorates=["hmic", "ofsted"],
                   regime="jtai"),
            FRI_18_DEC_2026, reference="CMP-2026-00102")),
        "jar_joint_panel": Case("acknowledgement", letter_input(
            Labels(aspects=["judgement"], inspectorates=["cqc", "ofsted"], regime="jar",
                   published=date(2026, 11, 18)),
            FRI_18_DEC_2026, reference="CMP-2026-00103")),
        "jar_corporate_assessment": Case("acknowledgement", letter_input(
            Labels(aspects=["judgement"], inspectorates=["audit_commission"], regime="jar",
                   corporate_assessment=True),
            FRI_18_DEC_2026, reference="CMP-2026-00104")),
        "slac_health_care": Case("acknowledgement", letter_input(
            Labels(aspects=["process"], inspectorates=["cqc", "ofsted"], regime="slac"),
            MON_23_NOV_2026, reference="CMP-2026-00105")),
        "external_probation": Case("acknowledgement", letter_input(
            Labels(aspects=["judgement"], inspectorates=["hmi_probation"], regime="external"),
            MON_23_NOV_2026, reference="CMP-2026-00106", missing=["availability"])),
    }


def _other_intents() -> dict[str, Case]:
    return {
        "withhold_jtai": Case("withhold", letter_input(
            Labels(intent="withhold_publication", aspects=["factual_accuracy"],
                   inspectorates=["ofsted"], regime="jtai", published=date(2026, 11, 20)),
            MON_23_NOV_2026, reference="CMP-2026-00107")),
        "escalation_ofsted_2024": Case("escalation", letter_input(
            Labels(intent="escalation", aspects=["process"]),
            MON_23_NOV_2026, reference="CMP-2026-00108")),
        "escalation_ofsted_2015": Case("escalation", letter_input(
            Labels(intent="escalation", aspects=["process"]),
            THU_28_MAR_2024, reference="CMP-2024-00009")),
        "escalation_jar": Case("escalation", letter_input(
            Labels(intent="escalation", aspects=["process"], regime="jar"),
            FRI_18_DEC_2026, reference="CMP-2026-00109")),
        "information_request": Case("information_request", letter_input(
            Labels(intent="information_request", inspectorates=["ofsted"]),
            MON_23_NOV_2026, reference="CMP-2026-00110")),
        "provider_concern_safeguarding": Case("provider_concern", letter_input(
            Labels(intent="provider_concern", safeguarding=True, provider="Sunny Days Nursery"),
            MON_23_NOV_2026, reference="CMP-2026-00111")),
        "enquiry_no_name": Case("enquiry", letter_input(
            Labels(intent="enquiry", inspectorates=[]),
            MON_23_NOV_2026, reference="CMP-2026-00112", name=None)),
        "receipt_held": Case("receipt", letter_input(
            Labels(aspects=["judgement"], regime="jtai"),
            FRI_18_DEC_2026, reference="CMP-2026-00113")),
        "progress_update_jar": Case("progress_update", letter_input(
            Labels(aspects=["process"], regime="jar"),
            FRI_18_DEC_2026, reference="CMP-2026-00114")),
        "printable_phone_complaint": Case("acknowledgement", letter_input(
            Labels(aspects=["judgement"], published=date(2026, 11, 18)),
            MON_23_NOV_2026, reference="CMP-2026-00115", channel="phone",
            address="12 High Street, Leeds, LS1 4AB", missing=["desired_outcome"]),
            printable=True),
        "large_print_jar": Case("acknowledgement", letter_input(
            Labels(aspects=["conduct"], inspectorates=["cqc"], regime="jar"),
            FRI_18_DEC_2026, reference="CMP-2026-00116"), large_print=True),
    }


def golden_cases() -> dict[str, Case]:
    return {**_complaints(), **_other_intents()}
