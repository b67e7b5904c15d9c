"""The shipped model: it loads, and it labels clear messages as RULES.md says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.classify import ClassifyInput
from intake.records import Classification
from intake.settings import Settings
from nlp.classifier import SHIPPED_MODEL, has_model, load_classifier
from nlp.trained import SpacyClassifier

RECEIVED = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def classify(text: str, subject: str | None = None) -> Classification:
    return load_classifier().classify(ClassifyInput(text, subject, "email", RECEIVED))


def test_the_trained_model_ships_and_is_what_the_bot_loads(settings: Settings) -> None:
    assert has_model(SHIPPED_MODEL)
    classifier = load_classifier()
    assert isinstance(classifier, SpacyClassifier)
    assert classifier.version.startswith("spacy-")
    assert classifier.nlp.pipe_names == ["span_ruler", "phone_numbers", "intent", "aspects",
                                         "inspectorates", "regime", "safeguarding",
                                         "vector_heads"]


def test_model_folder_is_small() -> None:
    size = sum(p.stat().st_size for p in SHIPPED_MODEL.rglob("*") if p.is_file())
    assert size < 30 * 1024 * 1024


def test_conduct_complaint(settings: Settings) -> None:
    c = classify("I wish to make a formal complaint about the lead inspector at our "
                 "inspection last week. She was rude, shouted at my deputy and was "
                 "dismissive of staff throughout.", "Complaint about inspector conduct")
    assert c.intent == "complaint"
    assert "conduct" in c.aspects
    assert c.inspectorates == ["ofsted"] and c.regime == "ofsted"
    assert c.safeguarding is False
    assert set(c.rules) >= {"intent", "aspects", "inspectorates", "regime", "safeguarding"}


def test_withhold_request_wins_over_complaint(settings: Settings) -> None:
    c = classify("We have complained about the judgement in our draft report. Please "
                 "withhold publication of the report until the complaint is resolved.",
                 "Request to withhold publication")
    assert c.intent == "withhold_publication"
    assert c.aspects


def test_escalation_to_the_adjudicator(settings: Settings) -> None:
    c = classify("We received your response to our complaint and we remain dissatisfied. "
                 "Please tell us how to refer this to ICASO, the independent adjudicator.")
    assert c.intent == "escalation"


def test_freedom_of_information_request(settings: Settings) -> None:
    c = classify("Under the Freedom of Information Act please send me the number of "
                 "complaints about inspections received in 2024.", "FOI request")
    assert c.intent == "information_request"
    assert c.aspects == []


def test_child_at_risk_at_a_nursery_is_a_safeguarding_provider_concern(
        settings: Settings) -> None:
    c = classify("I want to report Little Acorns nursery. When I collected my son (2) "
                 "today he had bruises on his arms and a member of staff was shouting at "
                 "him. I am scared to send him back.", "Concern about a nursery")
    assert c.intent == "provider_concern"
    assert c.safeguarding is True
    assert c.regime == "ofsted"


def test_how_do_i_complain_is_an_enquiry(settings: Settings) -> None:
    c = classify("We are unhappy with our inspection. How do I make a complaint, and is "
                 "there a time limit?")
    assert c.intent == "enquiry"
    assert c.aspects == []


def test_named_joint_inspections_set_the_regime(settings: Settings) -> None:
    jtai = classify("We challenge the findings of the joint targeted area inspection "
                    "letter published on 2 March about our area's front door.")
    assert jtai.regime == "jtai"
    slac = classify("We wish to complain about the findings of the inspection of "
                    "safeguarding and looked after children services in our council.")
    assert slac.regime == "slac"


def test_police_inspector_conduct_in_a_jtai_is_hmic(settings: Settings) -> None:
    c = classify("During the JTAI the HMICFRS inspector was aggressive and demeaning to "
                 "two of my detective constables. I wish to complain about his conduct.")
    assert c.intent == "complaint"
    assert c.inspectorates == ["hmic"]
    assert c.regime == "jtai"


def test_confidence_keys_follow_the_contract(settings: Settings) -> None:
    c = classify("The lead inspector ignored our evidence and the grades are wrong.")
    assert f"intent:{c.intent}" in c.confidence
    assert f"regime:{c.regime}" in c.confidence
    assert "safeguarding" in c.confidence
    assert all(f"aspect:{a}" in c.confidence for a in c.aspects)
    assert all(f"inspectorate:{i}" in c.confidence for i in c.inspectorates)


def test_a_high_review_threshold_marks_the_case_for_review(settings: Settings) -> None:
    from intake.settings import override_settings

    with override_settings(review_threshold=1.0):
        assert classify("The inspector was rude to my staff.").needs_review is True
    with override_settings(review_threshold=0.0):
        assert classify("The inspector was rude to my staff.").needs_review is False


def test_without_a_model_the_keyword_classifier_is_used(
        settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from intake.settings import override_settings
    from nlp.baseline import KeywordClassifier

    with override_settings(model_dir=tmp_path / "nothing-here"):
        classifier = load_classifier()
    assert isinstance(classifier, KeywordClassifier)
    assert "keyword" in caplog.text


def test_phone_component_keeps_only_valid_numbers(settings: Settings) -> None:
    classifier = load_classifier()
    assert isinstance(classifier, SpacyClassifier)
    doc = classifier.nlp("Ring (0121) 496-0000 or +44 20 7946 0958, not 0000 000 000. "
                         "URN 123456, inspected 14/02/2025.")
    assert [span.id_ for span in doc.spans["phones"]] == ["0121 496 0000", "020 7946 0958"]
    c = classify("The inspector was rude. Call me on 020 7946 0958 after 4pm.")
    assert c.contact.phone == "020 7946 0958"


def test_hmi_probation_is_not_also_ofsteds_hmi(settings: Settings) -> None:
    c = classify("Where can I find HMI Probation's latest report on our youth justice "
                 "service?")
    assert c.inspectorates == ["hmi_probation"]
