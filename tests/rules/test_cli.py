"""``intake-bot deadlines``: the command-line contract in PRODUCT.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from intake import settings as settings_mod
from intake.cli import cli

from .test_deadlines import SECTION_6

BOT = str(Path(sys.executable).parent / "intake-bot")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["deadlines", *args])
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _isolated(settings: settings_mod.Settings) -> settings_mod.Settings:
    return settings


@pytest.mark.parametrize("row", SECTION_6, ids=lambda r: f"{r[0]}-{r[1]}")
def test_section_6_rows_through_the_cli(row: tuple) -> None:
    received, regime, published, ack, respond, limit, late, rule = row
    args = ["--regime", regime, "--received", received]
    if published:
        args += ["--published", published]
    code, out = run(*args)
    assert code == 0, out
    assert json.loads(out) == {"acknowledge_by": ack, "respond_by": respond,
                               "out_of_time": late, "time_limit_ends": limit, "rule": rule}


def test_installed_command_prints_one_json_object(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "SLACK_"))}
    proc = subprocess.run(
        [BOT, "deadlines", "--regime", "jar", "--received", "2026-12-18",
         "--published", "2026-11-18"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "acknowledge_by": "2026-12-22", "respond_by": "2027-01-20", "out_of_time": False,
        "time_limit_ends": "2026-12-18", "rule": "JAR",
    }


def test_intent_defaults_to_complaint_and_can_be_given() -> None:
    assert json.loads(run("--regime", "ofsted", "--received", "2026-11-23")[1])["rule"] \
        == "OFS-2024"
    code, out = run("--regime", "ofsted", "--received", "2026-11-23", "--intent", "escalation")
    assert (code, json.loads(out)["rule"], json.loads(out)["respond_by"]) == \
        (0, "ESC-OFS-2024", None)


@pytest.mark.parametrize(
    ("received", "respond_by"),
    [
        ("2026-06-10", "2026-06-12T00:00:00+01:00"),  # a date is 00:00 London that day
        ("2026-06-10T09:30", "2026-06-12T09:30:00+01:00"),  # naive is London (BST)
        ("2026-12-10T09:30", "2026-12-12T09:30:00+00:00"),  # naive is London (GMT)
        ("2026-06-10T09:30:00Z", "2026-06-12T09:30:00+00:00"),
        ("2026-06-10T09:30:00+02:00", "2026-06-12T09:30:00+02:00"),
    ],
)
def test_withhold_respond_by_keeps_the_input_offset(received: str, respond_by: str) -> None:
    code, out = run("--regime", "jtai", "--received", received,
                    "--intent", "withhold_publication")
    assert code == 0, out
    assert json.loads(out)["respond_by"] == respond_by


def test_utc_time_late_in_the_evening_is_the_next_london_day_in_summer() -> None:
    code, out = run("--regime", "ofsted", "--received", "2026-06-26T23:30:00Z",
                    "--published", "2026-06-12")
    assert code == 0, out
    assert json.loads(out)["acknowledge_by"] == "2026-06-27"
    assert json.loads(out)["out_of_time"] is True


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--regime", "ofstead", "--received", "2026-11-23"], "'--regime'"),
        (["--regime", "ofsted", "--received", "2026-11-23", "--intent", "moan"], "'--intent'"),
        (["--regime", "ofsted", "--received", "2026-02-30"], "'--received'"),
        (["--regime", "ofsted", "--received", "2026-11-23T25:00"], "'--received'"),
        (["--regime", "ofsted", "--received", "yesterday"], "'--received'"),
        (["--regime", "ofsted", "--received", "2026-11-23", "--published", "2026-02-29"],
         "'--published'"),
        (["--regime", "ofsted", "--received", "2026-11-23", "--published", "06/11/2026"],
         "'--published'"),
        (["--regime", "ofsted", "--received", "9999-12-31"], "'--received'"),
        (["--regime", "ofsted", "--received", "9999-12-31T23:30-05:00"], "'--received'"),
        (["--regime", "ofsted", "--received", "0001-01-01T00:30+05:00"], "'--received'"),
        (["--regime", "jar", "--received", "2026-01-01", "--published", "9999-12-15"],
         "'--published'"),
        (["--regime", "ofsted"], "'--received'"),
        (["--received", "2026-11-23"], "'--regime'"),
    ],
)
def test_bad_argument_exits_2_naming_it(args: list[str], named: str) -> None:
    code, out = run(*args)
    assert code == 2
    assert named in out
    assert "Traceback" not in out


def test_bad_rules_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text("[regimes.jtai.rules.JTAI.respond]\namount = 0\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "SLACK_"))}
    env["INTAKE_RULES_FILE"] = str(bad)
    proc = subprocess.run(
        [BOT, "deadlines", "--regime", "jtai", "--received", "2026-12-18"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "regimes.jtai.rules.JTAI.respond.amount: must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_good_rules_file_changes_the_printed_deadline(tmp_path: Path) -> None:
    override = tmp_path / "rules.toml"
    override.write_text("closures = [2026-11-24]\n", encoding="utf-8")
    with settings_mod.override_settings(rules_file=override):
        code, out = run("--regime", "ofsted", "--received", "2026-11-23")
    assert code == 0, out
    assert json.loads(out)["respond_by"] == "2027-01-08"
