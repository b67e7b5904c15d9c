"""Phone intake: form validation, and `intake-bot phone` from a file and at the prompts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from intake.channels.phone import parse_phone, phone_record, validate_phone_fields
from intake.cli import cli
from intake.errors import InputError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GOOD = {
    "caller_name": "Mr Tariq Shah", "phone": "07700 900123", "email": "t.shah@example.org",
    "email_consent": True, "role": "parent_carer", "provider": "Oak Lane Primary",
    "urn": "123456", "what_happened": "Caller says the inspector spoke to his son without "
    "any adult present and the report says the school has no SEN unit when it has one.",
}


def test_a_complete_form_has_no_errors() -> None:
    assert validate_phone_fields(GOOD, NOW) == {}


@pytest.mark.parametrize(("change", "field"), [
    ({"what_happened": ""}, "what_happened"),
    ({"caller_name": "  "}, "caller_name"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"urn": "12AB"}, "urn"),
    ({"role": "headteacher"}, "role"),
    ({"report_published": "31/02/2026"}, "report_published"),
    ({"report_published": "2027-01-01"}, "report_published"),
    ({"call_time": "yesterday-ish"}, "call_time"),
    ({"call_time": "2026-12-25T10:00"}, "call_time"),
    ({"email_consent": "maybe"}, "email_consent"),
    ({"colour": "blue"}, "colour"),
])
def test_each_bad_field_is_named(change: dict[str, object], field: str) -> None:
    assert field in validate_phone_fields({**GOOD, **change}, NOW)


def test_no_way_to_reach_the_caller_is_an_error() -> None:
    form = {k: v for k, v in GOOD.items() if k not in ("phone", "email")}
    assert "phone" in validate_phone_fields(form, NOW)


def test_without_email_consent_an_address_is_needed_for_post() -> None:
    errors = validate_phone_fields({**GOOD, "email_consent": False}, NOW)
    assert "address" in errors
    assert validate_phone_fields({**GOOD, "email_consent": False,
                                  "address": "1 High St, Leeds"}, NOW) == {}


def test_record_round_trips_through_the_parser() -> None:
    record = phone_record({**GOOD, "call_time": "2026-11-23T09:30"}, operator="op-1", now=NOW)
    assert record.channel == "phone" and record.external_id.startswith("phone-")
    assert record.received_at.isoformat() == "2026-11-23T09:30:00+00:00"  # London, GMT
    parsed = parse_phone(record.raw)
    assert parsed.contact.email == "t.shah@example.org"
    assert parsed.reply_address == "t.shah@example.org"
    assert parsed.structured["operator"] == "op-1"
    assert "SEN unit" in parsed.text and "URN: 123456" in parsed.text


def test_no_consent_means_no_reply_address() -> None:
    record = phone_record({**GOOD, "email_consent": "no", "address": "1 High St"},
                          operator="op-1", now=NOW)
    assert parse_phone(record.raw).reply_address is None


def test_invalid_form_cannot_become_a_record() -> None:
    with pytest.raises(InputError, match="what_happened"):
        phone_record({**GOOD, "what_happened": ""}, operator="op-1", now=NOW)


def test_phone_command_from_a_json_file_makes_a_case(cli_db: Path) -> None:
    form = cli_db / "call.json"
    form.write_text(json.dumps({**GOOD, "email_consent": "no", "address": "1 High St, Leeds",
                                "operator": "op-9"}))
    result = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["disposition"] == "new_case"
    assert [lt["delivery"] for lt in summary["letters"]] == ["post"]
    shown = CliRunner().invoke(cli, ["cases", "letter", summary["reference"], "--format",
                                     "html"])
    assert shown.exit_code == 0 and summary["reference"] in shown.stdout
    assert "1 High St" in shown.stdout  # the printable letter carries the address block


def test_phone_command_refuses_bad_json_and_bad_fields(cli_db: Path) -> None:
    broken = cli_db / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(cli, ["phone", "--json", str(broken)])
    assert result.exit_code == 2 and "--json" in result.output
    incomplete = cli_db / "incomplete.json"
    incomplete.write_text(json.dumps({"caller_name": "A"}))
    result = CliRunner().invoke(cli, ["phone", "--json", str(incomplete)])
    assert result.exit_code == 2 and "what_happened" in result.output


def test_phone_command_at_the_prompts(cli_db: Path) -> None:
    answers = ["Ms Ada Obi", "0113 496 0000", "", "no", "2 Park Row, Leeds", "provider",
               "Little Acorns Nursery", "EY654321", "12 and 13 November", "",
               "The inspector was rude to my deputy and the report has our ratio wrong",
               "An apology", "", "mornings", ""]
    result = CliRunner().invoke(cli, ["phone"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the prompts are on stderr, not in the result
    assert summary["reference"].startswith("CMP-")
    assert "Caller's name" in result.stderr


def test_large_print_request_gives_a_large_print_letter(cli_db: Path) -> None:
    form = cli_db / "call.json"
    form.write_text(json.dumps({**GOOD, "email_consent": "no", "address": "1 High St",
                                "large_print": True}))
    result = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert result.exit_code == 0, result.output
    ref = json.loads(result.stdout)["reference"]
    html = CliRunner().invoke(cli, ["cases", "letter", ref, "--format", "html"]).stdout
    assert "large-print" in html


def test_phone_command_reads_a_file_with_a_byte_order_mark(cli_db: Path) -> None:
    form = cli_db / "call.json"
    form.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    result = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["disposition"] == "new_case"


@pytest.mark.parametrize(("change", "field"), [
    ({"caller_name": {"first": "Tariq"}}, "caller_name"),
    ({"provider": True}, "provider"),
    ({"what_happened": ["rude", "wrong"]}, "what_happened"),
    ({"inspection_dates": [12, 13]}, "inspection_dates"),
])
def test_phone_command_refuses_values_that_are_not_text(cli_db: Path,
                                                        change: dict[str, object],
                                                        field: str) -> None:
    form = cli_db / "call.json"
    form.write_text(json.dumps({**GOOD, **change}))
    result = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert result.exit_code == 2
    assert f"{field}: Enter text" in result.output


def test_phone_command_takes_numbers_and_a_list_of_dates_as_text(cli_db: Path) -> None:
    form = cli_db / "call.json"
    form.write_text(json.dumps({**GOOD, "urn": 123456,
                                "inspection_dates": ["10 November", "11 November"]}))
    result = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert result.exit_code == 0, result.output
    exported = CliRunner().invoke(cli, ["messages", "export", "--with-content"])
    (row,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert "URN: 123456" in row["text"]
    assert "Inspection dates: 10 November, 11 November" in row["text"]
