"""The operator commands end to end through the CLI: letters pause/resume, people export
and erase, purge, on a SQLite store made by the real pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from intake.cli import cli

FORM = {"caller_name": "Ms Ffion Hughes", "phone": "029 2018 0001",
        "email": "ffion@example.org", "email_consent": "yes", "role": "parent_carer",
        "what_happened": "The inspector spoke to my daughter without any adult present and "
        "the report names the wrong class teacher."}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def log_call(folder: Path) -> str:
    path = folder / "call.json"
    path.write_text(json.dumps(FORM))
    code, out = run("phone", "--json", str(path))
    assert code == 0, out
    return json.loads(out)["reference"]


def test_pause_holds_letters_and_resume_releases_them(cli_db: Path) -> None:
    assert run("letters", "pause", "--reason", "rules review", "--by", "ops")[0] == 0
    assert run("letters", "status")[1].strip() == "paused"
    ref = log_call(cli_db)
    shown = json.loads(run("cases", "show", ref)[1])
    assert [lt["status"] for lt in shown["letters"]] == ["held"]
    code, out = run("letters", "resume", "--by", "ops")
    assert code == 0 and "1 held letter(s) released" in out
    shown = json.loads(run("cases", "show", ref)[1])
    assert [lt["status"] for lt in shown["letters"]] == ["queued"]


def test_people_export_erase_and_purge(cli_db: Path) -> None:
    from intake.cases.db import Store
    from intake.cases.models import Case

    ref = log_call(cli_db)
    code, out = run("people", "export", "ffion@example.org")
    assert code == 0 and json.loads(out)["cases"][0]["reference"] == ref
    code, out = run("people", "erase", "ffion@example.org", "--reason", "asked")
    assert code == 0 and json.loads(out)["kept_cases"] == [ref]  # still open
    store = Store(f"sqlite:///{cli_db / 'cli.db'}")
    with store.session() as s:
        case = s.query(Case).filter_by(reference=ref).one()
        case.status, case.closed_at = "closed", datetime(2026, 1, 5, tzinfo=UTC)
    store.dispose()
    code, out = run("purge", "--closed-before", "2026-02-01", "--dry-run")
    assert code == 0 and ref in out
    assert run("cases", "show", ref)[0] == 0  # a dry run changes nothing
    code, out = run("purge", "--closed-before", "2026-02-01")
    assert code == 0 and ref in out
    assert run("cases", "show", ref)[0] == 1
    left = json.loads(run("people", "export", "ffion@example.org")[1])
    assert left == {"complainants": [], "cases": [], "messages": [], "letters": [],
                    "audit": []}  # nothing about the person remains


def test_purge_needs_a_date_or_retention(cli_db: Path) -> None:
    code, out = run("purge")
    assert code == 2 and "--closed-before" in out
    code, out = run("purge", "--closed-before", "last week")
    assert code == 2
    code, out = run("purge", "--closed-before", "2062-01-01")
    assert code == 2 and "in the future" in out
