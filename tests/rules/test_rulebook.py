"""Rules as configuration (RULES.md section 7): shipped defaults and validated overrides."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from intake import settings as settings_mod
from intake.rules.deadlines import LONDON, REGIMES, compute_deadlines
from intake.rules.rulebook import (
    INTENTS,
    RuleBook,
    get_rulebook,
    load_override_data,
    load_rulebook,
)
from intake.settings import ConfigError

RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=LONDON)


def write(tmp_path: Path, text: str, name: str = "override.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def respond_by(book: RuleBook, regime: str = "ofsted") -> object:
    return compute_deadlines(regime=regime, intent="complaint", received_at=RECEIVED,
                             rulebook=book).respond_by


def test_shipped_rules_load_and_cover_every_regime_and_intent() -> None:
    book = load_rulebook()
    assert book.version == "2026.1"
    assert set(book.regimes) == set(REGIMES)
    assert set(book.intents) == set(INTENTS)
    assert book.closures == frozenset()
    assert book.extra == {}


def test_every_shipped_period_cites_a_seed_paragraph() -> None:
    book = load_rulebook()
    rules = [r for g in book.regimes.values() for r in g.rules.values()]
    rules += [r for i in book.intents.values() for r in i.rules.values()]
    for rule in rules:
        for source in (rule.acknowledge.source, rule.respond.source):
            assert source.startswith(("000_…", "001_…", "002_…", "003_…", "004_…"))


def test_override_changes_a_deadline_and_the_version(tmp_path: Path) -> None:
    default = load_rulebook()
    path = write(tmp_path, "[regimes.ofsted.rules.OFS-2024.respond]\namount = 20\n")
    book = load_rulebook(path)
    assert respond_by(default) == date(2027, 1, 7)
    assert respond_by(book) == date(2026, 12, 21)
    assert book.version.startswith("2026.1+override-")
    assert book.version != default.version
    result = compute_deadlines(regime="ofsted", intent="complaint", received_at=RECEIVED,
                               rulebook=book)
    assert result.rule_version == book.version
    # The rest of the defaults are untouched by the merge.
    assert book.regimes["ofsted"].rules["OFS-2024"].respond.source == "000_… para 28"
    assert respond_by(book, "jtai") == respond_by(default, "jtai")


def test_different_override_files_give_different_versions(tmp_path: Path) -> None:
    one = load_rulebook(write(tmp_path, "closures = [2026-11-24]\n", "a.toml"))
    two = load_rulebook(write(tmp_path, "closures = [2026-11-25]\n", "b.toml"))
    assert one.version != two.version
    assert len(one.version) <= 64  # fits the cases.rule_version column


def test_extra_closure_day_moves_a_deadline(tmp_path: Path) -> None:
    book = load_rulebook(write(tmp_path, "closures = [2026-11-24]\n"))
    assert book.closures == frozenset({date(2026, 11, 24)})
    assert respond_by(book) == date(2027, 1, 8)  # one day later than 2027-01-07
    jtai = compute_deadlines(regime="jtai", intent="complaint", received_at=RECEIVED,
                             rulebook=book)
    assert jtai.acknowledge_by == date(2026, 12, 1)  # 5 working days, skipping the 24th


def test_effective_date_of_the_april_change_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "[regimes.ofsted.rules.OFS-2015]\neffective_until = 2024-05-01\n"
        "[regimes.ofsted.rules.OFS-2024]\neffective_from = 2024-05-01\n"
    ))
    book = load_rulebook(path)
    april = datetime(2024, 4, 15, 12, tzinfo=LONDON)
    assert compute_deadlines(regime="ofsted", intent="complaint", received_at=april,
                             rulebook=book).rule == "OFS-2015"
    assert compute_deadlines(regime="ofsted", intent="complaint", received_at=april,
                             rulebook=load_rulebook()).rule == "OFS-2024"


def test_new_rule_version_can_be_added_by_override(tmp_path: Path) -> None:
    path = write(tmp_path, """
[regimes.ofsted.rules.OFS-2024]
effective_until = 2027-01-01

[regimes.ofsted.rules.OFS-2027]
effective_from = 2027-01-01
time_limit = { kind = "working_days", amount = 10, from = "published", source = "draft" }
acknowledge = { kind = "received", source = "000_… para 16" }
respond = { kind = "working_days", amount = 25, source = "000_… para 28" }
""")
    book = load_rulebook(path)
    later = datetime(2027, 2, 1, 9, tzinfo=LONDON)
    result = compute_deadlines(regime="ofsted", intent="complaint", received_at=later,
                               rulebook=book)
    assert result.rule == "OFS-2027"
    assert result.respond_by == date(2027, 3, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[regimes.jtai.rules.JTAI.respond]\namount = 0\n",
         "regimes.jtai.rules.JTAI.respond.amount: must be >= 1"),
        ("[regimes.jtai.rules.JTAI.respond]\nkind = \"fortnights\"\n",
         "regimes.jtai.rules.JTAI.respond.kind: Input should be"),
        ("[regimes.jar.rules.JAR.acknowledge]\nkind = \"none\"\namount = 0\n",
         "regimes.jar.rules.JAR.acknowledge.amount: must be >= 1"),
        ("[regimes.jar.rules.JAR.respond]\nkind = \"none\"\n",
         "regimes.jar.rules.JAR.respond: amount is not allowed when kind is 'none'"),
        ("[regimes.slac.rules.SLAC.acknowledge]\nkind = \"none\"\n",
         "regimes.slac.rules.SLAC.acknowledge"),
        ("[regimes.jtai.rules.JTAI.respond]\ndays = 5\n",
         "regimes.jtai.rules.JTAI.respond.days: unknown key"),
        ("[regimes.ofsted.rules.OFS-2015]\neffective_until = 2024-05-01\n",
         "regimes.ofsted: rules OFS-2015 and OFS-2024 overlap in time"),
        ("[regimes.ofsted.rules.OFS-2024]\neffective_from = 2024-05-01\n",
         "regimes.ofsted: gap between rules OFS-2015 and OFS-2024"),
        ("[regimes.scotland.rules.SCOT]\nacknowledge = { kind = \"received\", source = \"x\" }\n",
         "regimes: unknown regime 'scotland'"),
        ("[intents.grumble]\nout_of_time = true\n", "intents: unknown intent 'grumble'"),
        ("[intents.escalation.rules.ESC-OFS-2024]\nregimes = [\"mars\"]\n",
         "intents.escalation.rules.ESC-OFS-2024.regimes: unknown regime 'mars'"),
        ("[intents.escalation.rules.ESC-JAR]\nregimes = [\"jar\", \"ofsted\"]\n",
         "intents.escalation: for regime ofsted: rules ESC-OFS-2015 and ESC-JAR overlap"),
        ("closures = [\"2026-02-30\"]\n", "closures"),
        ("version = \"\"\n", "version"),
        ("colours = \"blue\"\n", "colours: unknown top-level key"),
        ("[regimes.jtai.rules.JTAI.time_limit]\nfrom = \"drafted\"\n",
         "regimes.jtai.rules.JTAI.time_limit.from"),
    ],
)
def test_bad_override_is_refused_naming_the_field(tmp_path: Path, text: str,
                                                  message: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as caught:
        load_rulebook(path)
    assert str(caught.value).startswith(f"rules file {path}: ")
    assert message in str(caught.value)


def test_override_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[regimes.jtai\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rulebook(path)


def test_missing_override_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file does not exist"):
        load_rulebook(tmp_path / "absent.toml")


def test_letters_tables_pass_through_unvalidated(tmp_path: Path) -> None:
    path = write(tmp_path, """
[contacts.icaso]
address = "Anywhere"
[procedures.ofsted_policy]
title = "Complaints about Ofsted"
[regimes.jtai.rules.JTAI.respond]
amount = 28
""")
    book = load_rulebook(path)
    assert book.extra == {"contacts": {"icaso": {"address": "Anywhere"}},
                          "procedures": {"ofsted_policy": {"title": "Complaints about Ofsted"}}}
    assert load_override_data(path)["contacts"] == {"icaso": {"address": "Anywhere"}}
    assert book.regimes["jtai"].rules["JTAI"].respond.amount == 28


def test_get_rulebook_uses_the_rules_file_setting(tmp_path: Path,
                                                  settings: settings_mod.Settings) -> None:
    assert get_rulebook().version == "2026.1"
    path = write(tmp_path, "closures = [2026-11-24]\n")
    with settings_mod.override_settings(rules_file=path):
        assert get_rulebook().version.startswith("2026.1+override-")
        assert get_rulebook() is get_rulebook()
        # compute_deadlines without a rule book uses the configured one.
        result = compute_deadlines(regime="ofsted", intent="complaint", received_at=RECEIVED)
        assert result.respond_by == date(2027, 1, 8)


def test_rules_file_from_the_environment(tmp_path: Path, settings: settings_mod.Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[regimes.jtai.rules.JTAI.respond]\namount = 0\n")
    monkeypatch.setenv("INTAKE_RULES_FILE", str(path))
    loaded = settings_mod.load_settings()
    assert loaded.rules_file == path
    with settings_mod.override_settings(), pytest.raises(ConfigError, match="must be >= 1"):
        get_rulebook()
