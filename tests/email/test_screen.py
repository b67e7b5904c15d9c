"""Screening: machines and spam are labelled and never answered (RFC 3834, PRODUCT.md Trust)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from intake.email.parse import parse_email
from intake.email.screen import screen
from intake.errors import InputError
from intake.records import Contact, ParsedMessage
from intake.settings import Settings, override_settings
from tests.support import free_port

EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
# File-name prefix -> what screening must say ("person" = answer it, "quarantine" = unreadable).
EXPECTED = {"bounce": "bounce", "autoreply": "autoreply", "list": "list", "spam": "spam",
            "complaint": "person", "reply": "person", "charset": "person",
            "broken": "person", "quarantine": "quarantine"}


def envelope_sender(raw: bytes) -> str:
    """The Return-Path the receiving server recorded: the envelope sender."""
    match = re.search(rb"^Return-Path:\s*<([^>]*)>", raw, re.M | re.I)
    return match.group(1).decode() if match else "someone@example.org"


def kind_of(path: Path, settings: Settings) -> str:
    raw = path.read_bytes()
    try:
        parsed = parse_email(raw)
    except InputError:
        return "quarantine"
    verdict = screen(parsed, envelope_sender(raw), settings)
    return verdict.disposition if verdict else "person"


@pytest.mark.parametrize("path", sorted(EML.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_gets_the_kind_its_name_says(path: Path, settings: Settings) -> None:
    assert kind_of(path, settings) == EXPECTED[path.name.split("_", 1)[0]]


def test_fixture_folder_counts_by_kind(settings: Settings) -> None:
    counts = Counter(kind_of(p, settings) for p in EML.glob("*.eml"))
    print("fixture counts by kind:", dict(sorted(counts.items())))
    assert set(counts) == set(EXPECTED.values())
    assert counts["bounce"] >= 5 and counts["autoreply"] >= 5 and counts["list"] >= 4


def parsed_with(headers: dict[str, object], subject: str = "Complaint",
                email: str = "parent@example.org") -> ParsedMessage:
    return ParsedMessage(text="I complain", new_text="I complain", subject=subject,
                         contact=Contact(email=email), headers={"content-type": "text/plain",
                                                                **headers})


@pytest.mark.parametrize(("headers", "disposition"), [
    ({"auto-submitted": "auto-replied"}, "autoreply"),
    ({"auto-submitted": "auto-generated; owner-email=x@example.org"}, "autoreply"),
    ({"precedence": "bulk"}, "list"),
    ({"precedence": "list"}, "list"),
    ({"precedence": "junk"}, "list"),
    ({"precedence": "auto_reply"}, "autoreply"),
    ({"list-id": "<heads.example.org>"}, "list"),
    ({"x-autoreply": "yes"}, "autoreply"),
    ({"x-spam-flag": "YES"}, "spam"),
    ({"x-spam-status": "Yes, score=9.1 required=5.0"}, "spam"),
    ({"x-rspamd-action": "reject"}, "spam"),
    ({"authentication-results": ["mx.local; dmarc=fail header.from=example.org"]}, "spam"),
    ({"authentication-results": ["mx.local; spf=fail smtp.mailfrom=example.org"]}, "spam"),
    ({"x-failed-recipients": "a@example.org"}, "bounce"),
])
def test_each_machine_signal(headers: dict[str, object], disposition: str,
                             settings: Settings) -> None:
    verdict = screen(parsed_with(headers), "parent@example.org", settings)
    assert verdict is not None and verdict.disposition == disposition


@pytest.mark.parametrize("headers", [
    {"auto-submitted": "no"},
    {"x-spam-flag": "NO", "x-spam-status": "No, score=0.3 required=5.0"},
    {"authentication-results": ["mx.local; spf=softfail; dkim=pass; dmarc=pass"]},
    # a DMARC fail recorded further down the chain is stale or forged: only the top counts
    {"authentication-results": ["mx.local; dmarc=pass", "old.example; dmarc=fail"]},
])
def test_a_persons_mail_is_not_screened(headers: dict[str, object],
                                        settings: Settings) -> None:
    assert screen(parsed_with(headers), "parent@example.org", settings) is None


def test_null_reverse_path_is_a_machine(settings: Settings) -> None:
    verdict = screen(parsed_with({}), "", settings)
    assert verdict is not None and verdict.disposition == "autoreply"


def test_mailer_daemon_envelope_sender_is_a_bounce(settings: Settings) -> None:
    verdict = screen(parsed_with({}, email="imss@scanner.example.org"),
                     "MAILER-DAEMON@mx.example.org", settings)
    assert verdict is not None and verdict.disposition == "bounce"


def test_delivery_failure_subject_from_a_real_address_is_a_bounce(settings: Settings) -> None:
    parsed = parsed_with({}, subject="Delivery failure notification",
                         email="antivirus@gateway.example.org")
    verdict = screen(parsed, "antivirus@gateway.example.org", settings)
    assert verdict is not None and verdict.disposition == "bounce"


@pytest.mark.parametrize("subject", ["RE: Your message to the list : non remis",
                                     "Unzustellbar: Ihre Beschwerde",
                                     "Undeliverable: We have received your complaint"])
def test_localised_non_delivery_subjects_are_bounces(subject: str, settings: Settings) -> None:
    verdict = screen(parsed_with({}, subject=subject, email="ndr@example.org"),
                     "ndr@example.org", settings)
    assert verdict is not None and verdict.disposition == "bounce"


def test_mailer_daemon_sender_is_a_bounce(settings: Settings) -> None:
    verdict = screen(parsed_with({}, email="mailer-daemon@mx.example.org"), "", settings)
    assert verdict is not None and verdict.disposition == "bounce"


def test_spamd_configured_but_down_fails_open(settings: Settings) -> None:
    raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nI complain.\r\n"
    with override_settings(spamd_host="127.0.0.1", spamd_port=free_port()) as configured:
        assert screen(parse_email(raw), "a@example.org", configured, raw=raw) is None
