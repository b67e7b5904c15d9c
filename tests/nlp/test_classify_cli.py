"""``intake-bot classify``: the JSON Lines contract, per-line errors, and bad input."""

from __future__ import annotations

import io
import json
from datetime import UTC

import pytest
from click.testing import CliRunner

from intake.classify import run_classify_stream, stdin_batches
from intake.cli import cli
from intake.settings import Settings
from nlp.classifier import load_classifier

KEYS = {"id", "intent", "aspects", "inspectorates", "regime", "safeguarding", "urn",
        "report_published", "draft_received", "out_of_time", "time_limit_ends",
        "acknowledge_by", "respond_by", "rule", "confidence"}

COMPLAINT = {
    "id": "m1",
    "text": ("I am the headteacher of Oakfield Primary School, URN 123456. The lead inspector "
             "was rude and dismissive to my staff, and the report published on 6 November "
             "judges our curriculum inadequate, ignoring the evidence we gave."),
    "subject": "Formal complaint about our inspection",
    "channel": "email",
    "received_at": "2026-11-23T10:00:00+00:00",
}


def run(lines: list[str]) -> list[dict]:
    out = io.StringIO()
    run_classify_stream(stdin_batches(io.BytesIO("\n".join(lines).encode())), out,
                        load_classifier())
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_output_has_exactly_the_contract_fields_with_deadlines(settings: Settings) -> None:
    (result,) = run([json.dumps(COMPLAINT)])
    assert set(result) == KEYS
    assert result["id"] == "m1"
    assert result["intent"] == "complaint"
    assert result["urn"] == "123456"
    # RULES.md 6, first worked example: published 2026-11-06, received Mon 2026-11-23.
    assert result["report_published"] == "2026-11-06"
    assert result["rule"] == "OFS-2024"
    assert result["acknowledge_by"] == "2026-11-23"
    assert result["respond_by"] == "2027-01-07"
    assert result["time_limit_ends"] == "2026-11-20"
    assert result["out_of_time"] is True
    assert result["aspects"] == sorted(result["aspects"])
    assert f"intent:{result['intent']}" in result["confidence"]
    assert all(0.0 <= v <= 1.0 for v in result["confidence"].values())


def test_bad_lines_get_errors_in_order_and_the_batch_goes_on(settings: Settings) -> None:
    lines = [
        "not json at all",
        json.dumps({"text": "no id", "received_at": "2026-01-05T09:00:00"}),
        json.dumps({"id": "x1", "received_at": "2026-01-05T09:00:00"}),
        json.dumps({"id": "x2", "text": "hello", "received_at": "yesterday"}),
        "",
        json.dumps(COMPLAINT),
        "[1, 2]",
        json.dumps({"id": "x3", "text": "hi", "channel": "fax",
                    "received_at": "2026-01-05T09:00:00"}),
    ]
    results = run(lines)
    assert [r.get("line") for r in results] == [1, 2, 3, 4, None, 7, 8]
    assert results[0] == {"id": None, "line": 1, "error": "not valid JSON"}
    assert results[1]["id"] is None and "id" in results[1]["error"]
    assert results[2]["id"] == "x1" and "text" in results[2]["error"]
    assert results[3]["id"] == "x2" and "received_at" in results[3]["error"]
    assert results[4]["id"] == "m1" and "error" not in results[4]
    assert "object" in results[5]["error"]
    assert "channel" in results[6]["error"]


def test_received_at_without_offset_is_london_time(settings: Settings) -> None:
    item = {**COMPLAINT, "received_at": "2026-07-01T23:30:00"}  # 22:30 UTC, still 1 July
    (result,) = run([json.dumps(item)])
    assert result["acknowledge_by"] == "2026-07-01"


@pytest.mark.parametrize("text", [
    "",
    "   \n\t ",
    "12345 !!! 0000 ---",
    "😀😀😀 🙏🙏",
    "\x00\x01\x02\ufffd\ufffd binary \x7f",
])
def test_empty_or_wordless_text_is_a_low_confidence_enquiry(settings: Settings,
                                                            text: str) -> None:
    (result,) = run([json.dumps({"id": "b", "text": text,
                                 "received_at": "2026-01-05T09:00:00Z"})])
    assert result["intent"] == "enquiry"
    assert result["confidence"]["intent:enquiry"] < settings.review_threshold


def test_welsh_is_an_enquiry_marked_for_review(settings: Settings) -> None:
    welsh = ("Rwy'n ysgrifennu i gwyno am yr arolygiad yn ysgol ein plant. Roedd yr "
             "arolygydd yn anghwrtais iawn i'r staff ac nid oedd yr adroddiad yn deg.")
    from datetime import datetime

    from intake.classify import ClassifyInput

    result = load_classifier().classify(
        ClassifyInput(welsh, None, "email", datetime(2026, 1, 5, tzinfo=UTC)))
    assert result.intent == "enquiry"
    assert result.needs_review is True


def test_binary_junk_and_a_megabyte_of_text_do_not_stop_the_batch(settings: Settings) -> None:
    big = {"id": "big", "text": "The inspector was rude. " * 45000,
           "received_at": "2026-01-05T09:00:00Z"}
    stream = io.BytesIO(b"\xff\xfe\x00garbage\x80\n" + json.dumps(big).encode() + b"\n"
                        + json.dumps(COMPLAINT).encode() + b"\n")
    out = io.StringIO()
    assert run_classify_stream(stdin_batches(stream), out, load_classifier()) == 3
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert results[0]["line"] == 1 and "JSON" in results[0]["error"]
    assert results[1]["id"] == "big" and results[1]["intent"] == "complaint"
    assert results[2]["id"] == "m1"


def test_a_received_date_outside_the_rules_range_is_a_line_error(settings: Settings) -> None:
    (result,) = run([json.dumps({**COMPLAINT, "received_at": "1066-10-14T09:00:00Z"})])
    assert result["id"] == "m1" and result["line"] == 1 and "received_at" in result["error"]


def test_the_command_reads_stdin_and_exits_zero(settings: Settings) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["classify"], input=json.dumps(COMPLAINT) + "\nnope\n")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert lines[0]["id"] == "m1" and lines[1]["error"] == "not valid JSON"


def test_an_empty_text_in_a_batch_does_not_break_the_batch() -> None:
    """spaCy's n-gram step fails on a batch mixing a doc with no tokens and one with
    tokens; the classifier must answer the whole batch itself, in order."""
    from datetime import datetime

    from intake.classify import ClassifyInput

    when = datetime(2026, 1, 5, tzinfo=UTC)
    complaint = ClassifyInput(COMPLAINT["text"], COMPLAINT["subject"], "email", when)
    empty = ClassifyInput("", None, "email", when)
    classifier = load_classifier()
    results = classifier.classify_many([empty, complaint, empty, complaint])
    alone = classifier.classify(complaint)
    assert [r.intent for r in results] == ["enquiry", "complaint", "enquiry", "complaint"]
    assert results[1].confidence == alone.confidence
