"""The rule layer: intent cues, safeguarding, regime and inspectorates from names."""

from __future__ import annotations

from datetime import date

import pytest

from nlp.dates import date_facts
from nlp.extract import choose_urn
from nlp.intent_rules import rule_intent
from nlp.language import is_english
from nlp.rules import decide_inspectorates, decide_regime, find_mentions, safeguarding_rule


def test_withhold_phrases_outrank_a_complaint() -> None:
    assert rule_intent("We complain about the judgement and ask that publication is "
                       "delayed until the complaint is answered.")[0] == "withhold_publication"
    assert rule_intent("They want it held until the error is fixed.")[0] == \
        "withhold_publication"
    assert rule_intent("Our report was published a week last Friday and has errors.")[0] \
        != "withhold_publication"


@pytest.mark.parametrize("text", [
    "Today we've had the final report and none of the corrections is made. Please don't "
    "publish it as it stands.",
    "The report still names another nursery. Begging us not to put it live till it's fixed.",
    "I must ask you to take down the report on our school published this morning.",
])
def test_everyday_withhold_wordings(text: str) -> None:
    assert rule_intent(text)[0] == "withhold_publication"


@pytest.mark.parametrize("text", [
    "When will the report go live on your website?",
    "The report went live yesterday and it is wrong about our numbers.",
    "I don't think the inspector published anything about our provision for SEND.",
])
def test_going_live_or_publishing_alone_is_no_withhold_request(text: str) -> None:
    assert rule_intent(text)[0] != "withhold_publication"


def test_escalation_needs_an_earlier_complaint_not_the_word_de_escalation() -> None:
    assert rule_intent("We remain dissatisfied with your response to our complaint.")[0] == \
        "escalation"
    assert rule_intent("We use a de-escalation programme; the inspector called it "
                       "assault.")[0] != "escalation"
    assert rule_intent("I'm not unhappy with the outcome, but the inspector joked about "
                       "the area.")[0] != "escalation"


def test_how_do_i_complain_is_an_enquiry() -> None:
    assert rule_intent("How do I make a complaint about our inspection?")[0] == "enquiry"


def test_safeguarding_fires_on_a_named_child_at_risk() -> None:
    hit, words = safeguarding_rule("My son (3) came home with bruises on his arm.", False)
    assert hit and words == "bruises"
    assert safeguarding_rule("i am 14 and one of the staff keeps pushing me against the "
                             "wall", False)[0]


@pytest.mark.parametrize("text", [
    "The family were evicted and the boy is still sleeping in the car with his mum.",
    "A toddler walked out unnoticed; the fire door is propped open and they open tomorrow.",
    "Her 14-year-old son was looking after the five children, including two babies.",
    "A man keeps asking my friend (she's 16) to come to parties.",
    "Her family are trying to find her and police warn of a risk of abduction.",
    "Staff drive the toddlers to forest school with no car seats, and my son goes Thursday.",
    "My son set a fire in his room and it took ten minutes for staff to notice. He's 13.",
])
def test_safeguarding_catches_a_child_without_a_safe_place_or_adult(text: str) -> None:
    assert safeguarding_rule(text, False)[0]


@pytest.mark.parametrize("text", [
    "A neighbour hears a child screaming for long periods most afternoons at the "
    "childminder's.",
    "The manager shouts at the children and calls them names.",
    "Children are taught in a church hall by two adults with no DBS checks.",
    "A caller says a school is letting a known paedophile work as its caretaker.",
])
def test_concerns_about_a_provider_catch_screaming_shouting_and_no_dbs(text: str) -> None:
    assert safeguarding_rule(text, True)[0]
    # In a complaint about an inspection these are topic words, not a child at risk now.
    assert not safeguarding_rule(text.replace("child", "adult").replace("Children", "Adults"),
                                 False)[0]


@pytest.mark.parametrize("text", [
    "The lead inspector walked out of the feedback meeting.",
    "The hall was freezing, so the inspectors kept their coats on.",
    "I was looking after the office while the head met the inspector.",
])
def test_safeguarding_words_about_adults_are_not_a_child_at_risk(text: str) -> None:
    assert not safeguarding_rule(text, False)[0]


def test_safeguarding_ignores_resolved_incidents_and_inspection_topics() -> None:
    assert not safeguarding_rule("My daughter was pushed in June; since September it has "
                                 "stopped and she is much happier.", True)[0]
    assert not safeguarding_rule("We challenge the JTAI finding on children living with "
                                 "domestic abuse.", False)[0]
    # A topic word alone counts in a concern about a provider.
    assert safeguarding_rule("There is neglect at the nursery on Elm Road.", True)[0]


def test_regime_from_named_inspections_and_other_bodies() -> None:
    jtai = find_mentions("Complaint about the JTAI letter of findings.")
    assert decide_regime(jtai, "complaint") == ("jtai", "regime.named_jtai")
    jar = find_mentions("We challenge the corporate assessment in our joint area review.")
    assert decide_regime(jar, "complaint", corporate=True)[0] == "jar"
    assert decide_inspectorates(jar, "complaint", "jar", corporate=True) == \
        ["audit_commission"]
    peel = find_mentions("Dear Ofsted, we complain about HMICFRS's police-only inspection.")
    assert decide_regime(peel, "complaint")[0] == "external"
    lower_jar = find_mentions("She keeps a jar of sweets in the office.")
    assert "jar" not in lower_jar.inspections


def test_inspectorates_for_complaints_and_for_enquiries() -> None:
    police = find_mentions("The HMICFRS inspector on the JTAI was rude. Dear Ofsted.")
    assert decide_inspectorates(police, "complaint", "jtai") == ["hmic"]
    assert decide_inspectorates(police, "enquiry", "jtai") == ["hmic", "ofsted"]
    school = find_mentions("The inspector was rude to my staff.")
    assert decide_inspectorates(school, "complaint", "ofsted") == ["ofsted"]
    assert decide_inspectorates(school, "provider_concern", "ofsted") == []


def test_bracketed_urns_and_planned_publication_dates() -> None:
    assert choose_urn("Manor Croft (113998) say the response took 9 weeks") == "113998"
    assert choose_urn("hold publication of Ellerby Academy 144019 please") == "144019"
    received = date(2025, 5, 20)
    assert date_facts("Our report will be published on 22 May.", received) \
        .report_published is None
    facts = date_facts("We received the pre-publication corporate assessment report on "
                       "10 May 2025.", received)
    assert facts.draft_received == date(2025, 5, 10) and facts.report_published is None
    # 20 May 2025 is a Tuesday.
    assert date_facts("Draft received Monday.", received).draft_received == date(2025, 5, 19)


def test_language_check() -> None:
    assert is_english("The inspector was rude to my staff.")
    assert is_english("URN 123456 JTAI draft")
    assert not is_english("Je voudrais porter plainte contre l'inspecteur qui est venu.")
    assert not is_english("🙂🙂🙂")


def test_more_withhold_and_escalation_wordings() -> None:
    assert rule_intent("Report due out next week. Wants report held until complaint is "
                       "answered.")[0] == "withhold_publication"
    assert rule_intent("Your response of 1 February did not deal with our points; we "
                       "request a review.")[0] == "escalation"
    # An FOI internal review is part of the information request, not an escalation.
    assert rule_intent("I am unhappy with Ofsted's response to my FOI request and would "
                       "like an internal review.")[0] == "information_request"


def test_joint_inspection_complaints_add_ofsted_only_for_its_own_part() -> None:
    both = find_mentions("In the JTAI the HMIC inspector was rude, and we also dispute the "
                         "overall finding on missing children.")
    assert decide_inspectorates(both, "complaint", "jtai") == ["hmic", "ofsted"]
    police_only = find_mentions("In the JTAI the HMIC inspector was rude to our sergeant.")
    assert decide_inspectorates(police_only, "complaint", "jtai") == ["hmic"]
    estyn = find_mentions("Estyn inspected our school in Wrexham and the draft is wrong.")
    assert decide_regime(estyn, "complaint")[0] == "external"
    assert decide_inspectorates(estyn, "complaint", "external") == []
