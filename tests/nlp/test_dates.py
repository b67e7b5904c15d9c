"""Dates: year-less dates, day-first numbers, relative days, and which date is which."""

from __future__ import annotations

from datetime import date

from nlp.dates import date_facts, find_dates

RECEIVED = date(2025, 3, 20)


def test_day_month_without_year_is_the_latest_such_date_not_after_received() -> None:
    facts = date_facts("The report was published on 3rd March.", RECEIVED)
    assert facts.report_published == date(2025, 3, 3)


def test_day_month_after_the_received_date_belongs_to_last_year() -> None:
    facts = date_facts("Our report was published on 28th April.", RECEIVED)
    assert facts.report_published == date(2024, 4, 28)


def test_numeric_dates_are_day_first() -> None:
    (found,) = find_dates("We wrote on 14/02/2025.", RECEIVED)
    assert found.value == date(2025, 2, 14)
    (short,) = find_dates("We wrote on 03.02.25.", RECEIVED)
    assert short.value == date(2025, 2, 3)


def test_draft_publication_and_inspection_dates_are_told_apart() -> None:
    text = ("Inspectors visited on 4 February 2025. We received the draft report on "
            "14/02/2025. The final report was published on 3 March 2025.")
    facts = date_facts(text, RECEIVED)
    assert facts.inspection_dates == [date(2025, 2, 4)]
    assert facts.draft_received == date(2025, 2, 14)
    assert facts.report_published == date(2025, 3, 3)


def test_report_dated_and_came_out_count_as_publication() -> None:
    assert date_facts("The report came out on 10 March.", RECEIVED).report_published == \
        date(2025, 3, 10)
    assert date_facts("Your report dated 11th March 2025 is wrong.", RECEIVED) \
        .report_published == date(2025, 3, 11)


def test_relative_days_resolve_against_the_received_date() -> None:
    # 20 March 2025 is a Thursday.
    assert date_facts("The report was published yesterday.", RECEIVED).report_published == \
        date(2025, 3, 19)
    assert date_facts("It was published last Friday.", RECEIVED).report_published == \
        date(2025, 3, 14)


def test_vague_or_unrelated_dates_give_no_publication_date() -> None:
    assert date_facts("The report came out a few weeks ago.", RECEIVED).report_published is None
    assert date_facts("My son started school on 2 September 2024.", RECEIVED) \
        .report_published is None


def test_a_date_after_the_received_date_is_not_a_publication_date() -> None:
    facts = date_facts("The report will be published on 2 April 2025.", RECEIVED)
    assert facts.report_published is None


def test_impossible_dates_are_ignored() -> None:
    assert find_dates("on 31/02/2025 and 45/13/2025", RECEIVED) == []


def test_a_range_of_inspection_days_gives_both_ends() -> None:
    facts = date_facts("We were inspected on 3 and 4 March 2025.", RECEIVED)
    assert facts.inspection_dates == [date(2025, 3, 3), date(2025, 3, 4)]
