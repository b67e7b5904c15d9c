"""Threading, bounce matching and the reply limit, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from intake.cases.db import Store
from intake.cases.models import Message, OutboxItem
from intake.email.bounces import flag_bounce
from intake.email.can_acknowledge import can_acknowledge, record_reply, todays_count
from intake.email.parse import parse_email
from intake.email.threading import find_case, subject_reference_case
from intake.records import Contact, ParsedMessage
from intake.settings import Settings, override_settings
from tests.email.conftest import make_case

EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
OUR_ID = "5f2a9c1d0e3b4a7f8c6d2e1a.CMP-2025-00017@localhost"


def reply(subject: str, author: str, ids: list[str] | None = None) -> ParsedMessage:
    return ParsedMessage(text="more", new_text="more", subject=subject,
                         contact=Contact(email=author), in_reply_to=ids or [])


def test_reply_threads_by_headers_to_our_letter(store: Store) -> None:
    with store.session() as session:
        case = make_case(session, letter_message_id=OUR_ID)
        match = find_case(session, reply("anything", "someone@else.org", [OUR_ID]), "")
        assert match is not None and match.case.id == case.id and match.how == "headers"


def test_reply_threads_by_headers_to_earlier_inbound_mail(store: Store) -> None:
    with store.session() as session:
        case = make_case(session)
        session.add(Message(channel="email", external_id="first@example.org", raw=b"x",
                            received_at=case.received_at, case_id=case.id))
        session.flush()
        match = find_case(session, reply("More", "a@b.org", ["first@example.org"]), "")
        assert match is not None and match.case.id == case.id


def test_subject_reference_joins_only_from_the_complainant(store: Store) -> None:
    with store.session() as session:
        case = make_case(session)
        subject = "Re: your letter [CMP-2025-00017]"
        own = find_case(session, reply(subject, "S.Patel@example-school.org.uk"), "x@y.org")
        assert own is not None and own.case.id == case.id and own.how == "subject+complainant"
        stranger = reply(subject, "someone@else.org")
        assert find_case(session, stranger, "someone@else.org") is None
        assert subject_reference_case(session, stranger).id == case.id  # proposed link


def test_unknown_reference_and_no_headers_is_a_new_conversation(store: Store) -> None:
    with store.session() as session:
        make_case(session)
        assert find_case(session, reply("About CMP-2025-99999", "s.patel@example-school.org.uk"),
                         "") is None


def test_bounce_is_matched_to_our_letter_and_flagged(store: Store) -> None:
    parsed = parse_email((EML / "bounce_postfix.eml").read_bytes())
    with store.session() as session:
        case = make_case(session, letter_message_id=OUR_ID)
        session.add(OutboxItem(idempotency_key=f"letter:{case.letters[0].id}",
                               letter_id=case.letters[0].id, recipients=["x@y.org"],
                               raw=b"x", message_id=OUR_ID, status="sent"))
        letter = flag_bounce(session, parsed)
        assert letter is not None and letter.id == case.letters[0].id
        assert letter.status == "bounced" and "letter_bounced" in case.flags
        item = session.query(OutboxItem).one()
        assert item.status == "bounced" and "5.1.1" in item.last_error


def test_text_bounce_matched_by_pasted_message_id(store: Store) -> None:
    parsed = parse_email((EML / "bounce_exim.eml").read_bytes())
    with store.session() as session:
        case = make_case(session, reference="CMP-2025-00023",
                         letter_message_id="a71c0e44b2d9f3e8a1c6b5d4.CMP-2025-00023@localhost")
        assert flag_bounce(session, parsed) is case.letters[0]


def test_bounce_of_someone_elses_mail_matches_nothing(store: Store) -> None:
    parsed = parse_email((EML / "bounce_gmail.eml").read_bytes())
    with store.session() as session:
        make_case(session, letter_message_id=OUR_ID)
        assert flag_bounce(session, parsed) is None


def test_reply_limit_per_sender_per_day(store: Store, settings: Settings) -> None:
    with override_settings(max_replies_per_sender_per_day=2) as limited:
        with store.session() as session:
            assert can_acknowledge(session, "jo@example.org", None, limited) == (True, "ok")
            record_reply(session, "jo@example.org")
            record_reply(session, "JO@example.org")
            assert todays_count(session, "jo@example.org") == 2
            ok, why = can_acknowledge(session, "jo@example.org", None, limited)
            assert not ok and "daily limit" in why
            assert can_acknowledge(session, "other@example.org", None, limited)[0]


def test_no_acknowledgement_to_machines_or_ourselves(sqlite_store: Store,
                                                     settings: Settings) -> None:
    auto = ParsedMessage(text="", new_text="", headers={"auto-submitted": "auto-replied"})
    cases = {
        None: "no usable address",
        "": "no usable address",
        "a@b.org, c@d.org": "no usable address",
        "enquiries@localhost": "one of our own mailboxes",
        "MAILER-DAEMON@mx.example.org": "belongs to a machine",
        "no-reply@example.org": "belongs to a machine",
        "heads-network-bounces@lists.example.org": "belongs to a machine",
    }
    with sqlite_store.session() as session:
        for address, why in cases.items():
            ok, reason = can_acknowledge(session, address, None, settings)
            assert not ok and why in reason, address
        ok, reason = can_acknowledge(session, "jo@example.org", auto, settings)
        assert not ok and "Auto-Submitted" in reason
