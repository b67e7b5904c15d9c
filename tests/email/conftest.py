"""Fixtures for email tests: a real capture SMTP server, cases with letters, the intake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session as DbSession

from intake.cases.db import Store
from intake.cases.models import Case, Complainant, Letter
from intake.email.server import SmtpIntake
from intake.settings import Settings, override_settings
from tests.support import CaptureHandler, capture_relay


@pytest.fixture
def capture() -> Iterator[tuple[CaptureHandler, int]]:
    """A second real SMTP server on loopback standing in for the outbound relay."""
    with capture_relay() as relay:
        yield relay


@pytest.fixture
def mail_settings(settings: Settings, capture: tuple[CaptureHandler, int]) -> Iterator[Settings]:
    """Settings for email tests: intake on a free port, letters relayed to the capture."""
    with override_settings(database_url=settings.database_url, smtp_host="127.0.0.1",
                           smtp_port=0, relay_host="127.0.0.1", relay_port=capture[1],
                           mailboxes="enquiries@localhost,complaints@localhost",
                           from_address="enquiries@localhost", max_message_bytes=300_000,
                           outbox_backoff_seconds=0.05, worker_poll_seconds=0.05) as s:
        yield s


@pytest.fixture
def intake(sqlite_store: Store, mail_settings: Settings) -> Iterator[tuple[SmtpIntake, list[int]]]:
    """The real SMTP intake on a free loopback port; yields it and the ids it accepted."""
    accepted: list[int] = []
    server = SmtpIntake(sqlite_store, mail_settings, on_accept=accepted.append)
    server.start()
    yield server, accepted
    server.stop()


def make_case(session: DbSession, reference: str = "CMP-2025-00017",
              complainant: str | None = "s.patel@example-school.org.uk",
              letter_message_id: str | None = None) -> Case:
    """A case with a complainant and, optionally, an acknowledgement already queued."""
    person = Complainant(name="Sarah Patel", email=complainant)
    case = Case(reference=reference, channel="email", received_at=datetime.now(UTC),
                intent="complaint", regime="ofsted_general", complainant=person)
    session.add(case)
    if letter_message_id:
        case.letters.append(Letter(kind="acknowledgement", status="queued",
                                   recipient=complainant, subject="Acknowledgement",
                                   body_text="Dear", body_html="<p>Dear</p>",
                                   message_id=letter_message_id))
    session.flush()
    return case
