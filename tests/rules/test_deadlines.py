"""Deadlines per regime and intent (RULES.md sections 4, 6 and 8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from intake.rules.deadlines import (
    INTENTS,
    LONDON,
    REGIMES,
    Deadlines,
    compute_deadlines,
    received_date,
)
from intake.rules.rulebook import RuleBook, load_rulebook


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rulebook()


def at(day: str) -> datetime:
    """Midday London time on an ISO date."""
    return datetime.fromisoformat(day + "T12:00").replace(tzinfo=LONDON)


def deadlines(book: RuleBook, regime: str, received: datetime | str, published: str | None = None,
              intent: str = "complaint", **kw: object) -> Deadlines:
    when = at(received) if isinstance(received, str) else received
    pub = date.fromisoformat(published) if published else None
    return compute_deadlines(regime=regime, intent=intent, received_at=when, published=pub,
                             rulebook=book, **kw)


# RULES.md section 6, verbatim: received, regime, published, acknowledge_by, respond_by,
# time limit ends, out_of_time; then the rule id section 4 gives that row.
SECTION_6 = [
    ("2026-11-23", "ofsted", "2026-11-06", "2026-11-23", "2027-01-07", "2026-11-20", True,
     "OFS-2024"),
    ("2026-12-18", "jtai", None, "2026-12-29", "2027-02-03", None, None, "JTAI"),
    ("2026-12-18", "jar", "2026-11-18", "2026-12-22", "2027-01-20", "2026-12-18", False,
     "JAR"),
    ("2024-03-28", "ofsted", "2024-03-01", "2024-03-28", "2024-05-14", "2024-03-15", True,
     "OFS-2015"),
]


@pytest.mark.parametrize("row", SECTION_6, ids=lambda r: f"{r[0]}-{r[1]}")
def test_worked_examples_of_section_6(book: RuleBook, row: tuple) -> None:
    received, regime, published, ack, respond, limit, late, rule = row
    result = deadlines(book, regime, received, published)
    assert result.to_json() == {
        "acknowledge_by": ack,
        "respond_by": respond,
        "out_of_time": late,
        "time_limit_ends": limit,
        "rule": rule,
    }


def test_every_date_carries_rule_version_and_seed_reference(book: RuleBook) -> None:
    result = deadlines(book, "ofsted", "2026-11-23", "2026-11-06")
    assert result.rule_version == book.version
    assert result.sources == {
        "acknowledge_by": "000_… para 16",
        "respond_by": "000_… para 28",
        "time_limit_ends": "000_… para 18",
        "out_of_time": "000_… para 18",
    }
    assert result.received_at.tzinfo is not None


def test_rule_version_switches_on_1_april_2024(book: RuleBook) -> None:
    assert deadlines(book, "ofsted", "2024-03-31").rule == "OFS-2015"
    assert deadlines(book, "ofsted", "2024-04-01").rule == "OFS-2024"
    # 23:30 UTC on 31 March 2024 is 00:30 BST on 1 April: the London date decides.
    late_night = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    assert deadlines(book, "ofsted", late_night).rule == "OFS-2024"


@pytest.mark.parametrize(
    ("received", "expected_late"),
    [("2026-11-20", False), ("2026-11-21", True), ("2026-11-23", True)],
)
def test_received_on_last_day_of_limit_is_in_time(book: RuleBook, received: str,
                                                  expected_late: bool) -> None:
    result = deadlines(book, "ofsted", received, "2026-11-06")
    assert result.time_limit_ends == date(2026, 11, 20)
    assert result.out_of_time is expected_late


def test_last_minute_of_last_day_counts_in_london_time(book: RuleBook) -> None:
    # Winter: 23:30 UTC is 23:30 in London, still the last day.
    winter = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert deadlines(book, "ofsted", winter, "2026-11-06").out_of_time is False
    # Summer: 23:30 UTC on the last day is 00:30 BST the next day, out of time.
    summer = datetime(2026, 6, 26, 23, 30, tzinfo=UTC)
    result = deadlines(book, "ofsted", summer, "2026-06-12")
    assert result.time_limit_ends == date(2026, 6, 26)
    assert result.out_of_time is True


def test_time_limit_ending_on_weekend_is_not_rolled_forward(book: RuleBook) -> None:
    # SLAC: 30 calendar days after 1 Oct 2026 is Saturday 31 Oct (003_… para 65).
    on_monday = deadlines(book, "slac", "2026-11-02", "2026-10-01")
    assert on_monday.time_limit_ends == date(2026, 10, 31)
    assert on_monday.out_of_time is True
    assert deadlines(book, "slac", "2026-10-31", "2026-10-01").out_of_time is False


@pytest.mark.parametrize(
    ("published", "received", "limit", "late"),
    [
        ("2026-01-31", "2026-02-28", "2026-02-28", False),
        ("2026-01-31", "2026-03-02", "2026-02-28", True),
        ("2024-01-31", "2024-02-29", "2024-02-29", False),
        ("2024-01-31", "2024-03-01", "2024-02-29", True),
    ],
)
def test_jar_month_limit_clamps_to_month_end(book: RuleBook, published: str, received: str,
                                             limit: str, late: bool) -> None:
    result = deadlines(book, "jar", received, published)
    assert result.time_limit_ends == date.fromisoformat(limit)
    assert result.out_of_time is late


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), date(2026, 7, 1)),  # BST
        (datetime(2026, 12, 30, 23, 30, tzinfo=UTC), date(2026, 12, 30)),  # GMT
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 28)),  # eve of spring change
        (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30)),  # spring change day
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), date(2026, 10, 25)),  # eve of autumn change
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), date(2026, 10, 25)),  # autumn change day
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 25)),  # 01:30 BST, 1st pass
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), date(2026, 10, 25)),  # 01:30 GMT, 2nd pass
        (datetime(2026, 7, 1, 0, 30), date(2026, 7, 1)),  # naive means London already
    ],
)
def test_received_date_is_the_london_date(instant: datetime, expected: date) -> None:
    assert received_date(instant) == expected


def test_dst_received_date_moves_deadlines(book: RuleBook) -> None:
    # 23:30 UTC on Friday 26 June 2026 is Saturday in London: the limit already passed
    # and the acknowledgement counts from Saturday, not Friday.
    result = deadlines(book, "jtai", datetime(2026, 6, 26, 23, 30, tzinfo=UTC))
    assert result.acknowledge_by == date(2026, 7, 3)  # Sat + 5 working days = next Fri
    assert deadlines(book, "jtai", "2026-06-26").acknowledge_by == date(2026, 7, 3)
    assert deadlines(book, "jtai", "2026-06-25").acknowledge_by == date(2026, 7, 2)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # London wall clock over the spring change: exactly 48 hours later, still +00:00.
        (datetime(2026, 3, 28, 12, 0), "2026-03-30T12:00:00+00:00"),
        (datetime(2026, 6, 10, 9, 15, tzinfo=timezone(timedelta(hours=1))),
         "2026-06-12T09:15:00+01:00"),
        # Over the autumn change: 17:00 GMT in London, written in the input's +01:00.
        (datetime(2026, 10, 24, 18, 0, tzinfo=LONDON), "2026-10-26T18:00:00+01:00"),
        (datetime(2026, 6, 10, 22, 0, tzinfo=UTC), "2026-06-12T22:00:00+00:00"),
        (datetime(2026, 6, 10, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
         "2026-06-12T09:00:00-05:00"),
    ],
)
def test_withhold_is_48_hours_with_the_input_offset(book: RuleBook, received: datetime,
                                                    expected: str) -> None:
    result = deadlines(book, "ofsted", received, intent="withhold_publication")
    assert result.rule == "WITHHOLD-48H"
    assert result.to_json()["respond_by"] == expected
    assert isinstance(result.respond_by, datetime)
    assert result.respond_by - result.received_at == timedelta(hours=48)


@pytest.mark.parametrize("regime", REGIMES)
def test_withhold_acknowledged_on_received_date_in_every_regime(book: RuleBook,
                                                                regime: str) -> None:
    result = deadlines(book, regime, "2026-12-18", intent="withhold_publication")
    assert result.rule == "WITHHOLD-48H"
    assert result.acknowledge_by == date(2026, 12, 18)
    assert result.sources["respond_by"] == "004_… Annex D"


def test_withhold_checks_the_regime_time_limit(book: RuleBook) -> None:
    jar = deadlines(book, "jar", "2026-12-21", "2026-11-18", intent="withhold_publication")
    assert (jar.time_limit_ends, jar.out_of_time) == (date(2026, 12, 18), True)
    external = deadlines(book, "external", "2026-12-21", "2026-11-18",
                         intent="withhold_publication")
    assert (external.time_limit_ends, external.out_of_time) == (None, None)


def test_external_complaint_has_no_limit_and_no_response_date(book: RuleBook) -> None:
    result = deadlines(book, "external", "2026-11-23", "2026-01-01")
    assert result.to_json() == {"acknowledge_by": "2026-11-23", "respond_by": None,
                                "out_of_time": None, "time_limit_ends": None, "rule": "EXT"}


@pytest.mark.parametrize(
    ("regime", "received", "rule", "respond"),
    [
        ("ofsted", "2024-03-28", "ESC-OFS-2015", "2024-05-14"),
        ("jtai", "2024-03-28", "ESC-OFS-2015", "2024-05-14"),
        ("slac", "2024-03-28", "ESC-OFS-2015", "2024-05-14"),
        ("ofsted", "2026-11-23", "ESC-OFS-2024", None),
        ("jtai", "2026-11-23", "ESC-OFS-2024", None),
        ("slac", "2026-11-23", "ESC-OFS-2024", None),
        ("jar", "2026-12-18", "ESC-JAR", "2027-01-20"),
        ("jar", "2024-03-28", "ESC-JAR", "2024-04-29"),
        ("external", "2026-11-23", "EXT", None),
    ],
)
def test_escalation_rules(book: RuleBook, regime: str, received: str, rule: str,
                          respond: str | None) -> None:
    result = deadlines(book, regime, received, "2023-01-02", intent="escalation")
    assert result.rule == rule
    assert result.to_json()["respond_by"] == respond
    assert result.acknowledge_by == date.fromisoformat(received)
    assert (result.out_of_time, result.time_limit_ends) == (None, None)


@pytest.mark.parametrize("intent", ["information_request", "provider_concern", "enquiry"])
@pytest.mark.parametrize("regime", REGIMES)
def test_non_complaints_acknowledge_on_receipt_and_never_out_of_time(
        book: RuleBook, intent: str, regime: str) -> None:
    result = deadlines(book, regime, "2026-12-18", "2023-01-02", intent=intent)
    assert result.to_json() == {"acknowledge_by": "2026-12-18", "respond_by": None,
                                "out_of_time": None, "time_limit_ends": None,
                                "rule": "NONCOMPLAINT"}


def test_jtai_milestones_for_process_or_judgement_complaint(book: RuleBook) -> None:
    result = deadlines(book, "jtai", "2026-12-18", aspects=["judgement"])
    assert [(m.kind, m.due.isoformat()) for m in result.milestones] == [
        ("inspectorates_comments", "2027-01-06"),
        ("draft_response", "2027-01-20"),
        ("draft_comments", "2027-01-22"),
        ("final_letter", "2027-01-27"),
        ("response_sent", "2027-02-03"),
    ]
    assert {(m.rule, m.source) for m in result.milestones} == {("JTAI", "004_… Annex D")}
    assert len(deadlines(book, "jtai", "2026-12-18").milestones) == 5  # aspects unknown


def test_jtai_conduct_only_complaint_has_no_internal_milestones(book: RuleBook) -> None:
    assert deadlines(book, "jtai", "2026-12-18", aspects=["conduct"]).milestones == ()


def test_jar_progress_update_reminder_comes_before_day_20(book: RuleBook) -> None:
    result = deadlines(book, "jar", "2026-12-18", "2026-11-18")
    (reminder,) = result.milestones
    assert reminder.kind == "progress_update"
    assert reminder.source == "001_… para 9"
    assert reminder.due == date(2027, 1, 13)
    assert isinstance(result.respond_by, date) and reminder.due < result.respond_by


def test_date_results_are_working_days_where_counted_in_working_days(book: RuleBook) -> None:
    from intake.rules.working_days import is_working_day

    for regime in ("ofsted", "jtai", "jar", "slac"):
        result = deadlines(book, regime, "2026-12-25")  # received on Christmas Day
        assert isinstance(result.respond_by, date)
        assert is_working_day(result.respond_by)


def test_unknown_regime_is_named(book: RuleBook) -> None:
    with pytest.raises(ValueError, match="unknown regime 'ofstead'"):
        deadlines(book, "ofstead", "2026-11-23")


def test_unknown_intent_is_named(book: RuleBook) -> None:
    with pytest.raises(ValueError, match="unknown intent 'moan'"):
        deadlines(book, "ofsted", "2026-11-23", intent="moan")


def test_exports_match_the_rules() -> None:
    assert REGIMES == ("ofsted", "jtai", "jar", "slac", "external")
    assert INTENTS == ("complaint", "withhold_publication", "escalation",
                       "information_request", "provider_concern", "enquiry")


@pytest.mark.parametrize(
    ("received", "published", "field"),
    [
        (datetime(9999, 12, 31, 12, tzinfo=UTC), None, "received_at"),
        (datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))), None,
         "received_at"),
        (datetime(1899, 12, 31, 12, tzinfo=UTC), None, "received_at"),
        (datetime(2026, 1, 5, 12, tzinfo=UTC), "9999-12-15", "published"),
    ],
)
def test_dates_outside_the_supported_range_are_named(book: RuleBook, received: datetime,
                                                     published: str | None,
                                                     field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: .* outside the supported range"):
        deadlines(book, "jar", received, published)
