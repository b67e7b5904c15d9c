"""parse_slack: what the pipeline reads from a stored Slack event or shortcut payload."""

from __future__ import annotations

import json

import pytest

from bot.intake import is_intake_message, parse_slack
from intake.errors import InputError


def event_raw(message: dict[str, object]) -> bytes:
    return json.dumps({"event_id": "Ev1", "team_id": "T1", "event": message}).encode()


def test_text_is_unescaped_and_the_email_found() -> None:
    parsed = parse_slack(event_raw({
        "type": "message", "user": "U1", "channel": "C1", "ts": "1700000000.000100",
        "text": "Inspector at <https://example.org/school|Oak School> said &lt;no&gt; &amp; "
                "left. <@U2> please log. Write to <mailto:Ann@Example.org|Ann@Example.org>"}))
    assert "Oak School (https://example.org/school)" in parsed.text
    assert "<no> & left" in parsed.text
    assert "@U2 please log" in parsed.text
    assert parsed.contact.email == "ann@example.org"
    assert parsed.from_header == "U1"
    assert parsed.headers["slack_channel"] == "C1"
    assert parsed.sent_date is not None and parsed.sent_date.year == 2023


def test_forwarded_message_text_is_included() -> None:
    raw = json.dumps({"type": "message_action", "channel": {"id": "C9"}, "user": {"id": "U5"},
                      "message": {"ts": "1700000001.000100", "user": "U6", "text": "fyi",
                                  "attachments": [{"is_share": True, "author_name": "Parent",
                                                   "text": "The report is wrong, "
                                                           "reach me at p@ex.net."}]}})
    parsed = parse_slack(raw.encode())
    assert parsed.text.startswith("fyi")
    assert "Forwarded message from Parent:" in parsed.text
    assert "The report is wrong" in parsed.text
    assert parsed.contact.email == "p@ex.net"
    assert parsed.headers["slack_channel"] == "C9"


def test_plain_email_in_text_and_files_noted() -> None:
    parsed = parse_slack(event_raw({"user": "U1", "text": "contact jo.bloggs@school.sch.uk.",
                                    "ts": "1.0", "files": [{"id": "F1", "name": "a.pdf"}]}))
    assert parsed.contact.email == "jo.bloggs@school.sch.uk"
    assert parsed.notes and "not downloaded" in parsed.notes[0]


def test_no_email_means_no_contact_email() -> None:
    parsed = parse_slack(event_raw({"user": "U1", "text": "no address here", "ts": "1.0"}))
    assert parsed.contact.email is None


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"event_id": "Ev1"}', "has no message"),
    (json.dumps({"event": {"user": "U1", "text": "   "}}).encode(), "has no text"),
])
def test_unusable_payloads_are_input_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_slack(raw)


@pytest.mark.parametrize("event, expected", [
    ({"user": "U1", "channel": "CIN", "ts": "1", "text": "x"}, True),
    ({"user": "U1", "channel": "D1", "channel_type": "im", "ts": "1", "text": "x"}, True),
    ({"user": "U1", "channel": "COTHER", "ts": "1", "text": "x"}, False),
    ({"user": "U1", "channel": "CIN", "ts": "2", "thread_ts": "1", "text": "x"}, False),
    ({"user": "U1", "channel": "CIN", "ts": "1", "bot_id": "B1", "text": "x"}, False),
    ({"user": "U1", "channel": "CIN", "ts": "1", "subtype": "channel_topic"}, False),
    ({"user": "U1", "channel": "CIN", "ts": "1", "subtype": "file_share", "text": "x"}, True),
    ({"channel": "CIN", "ts": "1", "text": "no user"}, False),
])
def test_what_counts_as_intake(event: dict[str, str], expected: bool) -> None:
    assert is_intake_message(event, "CIN") is expected


def test_no_intake_channel_configured_means_only_dms() -> None:
    assert not is_intake_message({"user": "U1", "channel": "C1", "ts": "1"}, None)
