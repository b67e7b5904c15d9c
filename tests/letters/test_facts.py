"""Letter facts are validated data that an administrator can override without code."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.letters import get_letter_facts, load_letter_facts, render_letter
from intake.letters.facts import REQUIRED_CONTACTS, REQUIRED_PARAGRAPHS
from intake.settings import ConfigError, override_settings
from tests.letters.cases import MON_23_NOV_2026, Labels, letter_input


def test_shipped_facts_are_complete_and_versioned() -> None:
    facts = load_letter_facts()
    assert facts.version
    assert set(REQUIRED_CONTACTS) <= set(facts.contacts)
    assert set(REQUIRED_PARAGRAPHS) <= set(facts.procedures)
    assert facts.procedures["ofsted"].paragraphs["respond"] == "28"
    assert facts.procedures["jar"].paragraphs["corporate_assessment"] == "8d"
    assert facts.contacts["icaso"].email == "info@icaso.co.uk"
    for contact in facts.contacts.values():
        assert not contact.web or contact.web_text, contact.name


def test_override_changes_one_field_and_keeps_the_rest() -> None:
    facts = load_letter_facts({"contacts": {"icaso": {"email": "new@icaso.example"}},
                               "procedures": {"ofsted": {"paragraphs": {"respond": "29"}}}})
    assert facts.contacts["icaso"].email == "new@icaso.example"
    assert facts.contacts["icaso"].address[0].startswith("Independent Complaints")
    assert facts.procedures["ofsted"].paragraphs["respond"] == "29"
    assert facts.procedures["ofsted"].paragraphs["telephone"] == "23"


@pytest.mark.parametrize(("override", "field"), [
    ({"contacts": {"icaso": {"web": "www.example.org"}}}, "contacts.icaso.web"),
    ({"contacts": {"icaso": {"emial": "x@example.org"}}}, "contacts.icaso.emial"),
    ({"contacts": {"icasso": {"email": "x@example.org"}}}, "contacts.icasso"),
    ({"contacts": {"phso": {"email": "not-an-address"}}}, "contacts.phso.email"),
    ({"procedures": {"jar": {"title": ""}}}, "procedures.jar.title"),
    ({"procedures": {"jar": {"paragraphs": {"review": 14}}}}, "procedures.jar.paragraphs.review"),
    ({"contacts": "none"}, "contacts"),
])
def test_bad_override_is_refused_naming_the_field(override: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"rules_file: {field}"):
        load_letter_facts(override)


def test_rules_file_setting_reaches_the_letters(tmp_path: Path) -> None:
    rules = tmp_path / "rules-override.toml"
    rules.write_text('[contacts.icaso]\nemail = "adjudicator@icaso.example"\n',
                     encoding="utf-8")
    data = letter_input(Labels(aspects=["conduct"]), MON_23_NOV_2026, reference="CMP-2026-7")
    with override_settings(rules_file=rules):
        assert get_letter_facts().contacts["icaso"].email == "adjudicator@icaso.example"
        text = render_letter("acknowledgement", data).text
    assert "adjudicator@icaso.example" in text
    assert "adjudicator@icaso.example" not in render_letter("acknowledgement", data).text


def test_bad_rules_file_stops_letters_with_the_field_named(tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text('[contacts.cqc]\nweb = "ftp://cqc.example"\n', encoding="utf-8")
    with override_settings(rules_file=rules), \
            pytest.raises(ConfigError, match="contacts.cqc.web: 'ftp://cqc.example' must"):
        get_letter_facts()
