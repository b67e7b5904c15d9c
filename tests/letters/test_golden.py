"""Golden files: the exact letters a dozen representative cases produce.

To regenerate after an intended wording change, run
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/letters/test_golden.py`` and review the diff of
``tests/letters/golden/`` before committing it.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from intake.letters import render_letter, render_printable
from tests.letters.cases import golden_cases

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PRINT_DATE = date(2026, 11, 24)


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs from golden"


@pytest.mark.parametrize("name", sorted(golden_cases()))
def test_letter_matches_golden_file(name: str) -> None:
    case = golden_cases()[name]
    if case.printable:
        html = render_printable(case.data, case.kind, letter_date=PRINT_DATE,
                                large_print=case.large_print)
        _check(GOLDEN / f"{name}.html", html)
        return
    letter = render_letter(case.kind, case.data, large_print=case.large_print)
    _check(GOLDEN / f"{name}.txt", f"Subject: {letter.subject}\n\n{letter.text}")
    _check(GOLDEN / f"{name}.html", letter.html)


def test_golden_cases_cover_every_kind_and_regime() -> None:
    cases = golden_cases().values()
    assert {c.kind for c in cases} >= {"receipt", "acknowledgement", "withhold", "escalation",
                                       "information_request", "provider_concern", "enquiry",
                                       "progress_update"}
    assert {c.data.classification.regime for c in cases} == {"ofsted", "jtai", "jar", "slac",
                                                             "external"}
    assert len(golden_cases()) >= 12
